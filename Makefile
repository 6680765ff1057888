# raftkv - one plain Makefile for the node, the workbench, the tests and the benchmarks.
#
#   make            build/raftkv and build/whirl (installs Debian packages if missing)
#   make test       unit, Raft-simulation and end-to-end tests, also under ASan+UBSan
#   make accept     the long acceptance runs (minutes to hours)
#   make bench      throughput and latency figures, with the exact commands
#   make demo       a 5-node cluster under partitions, its verdict and report
#   make mutate     mutation testing: realistic bugs the fast suites must catch
#
# Sources are found by folder, so adding a file never needs an edit here.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SAN     ?=
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -MMD -MP $(SAN)
LDFLAGS += $(SAN)
PKGS    := jansson libuv
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TEST_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)
# The servers (raftkv, whirl) allocate with jemalloc, as Redis does: glibc's
# malloc spent ~15% of a busy leader's CPU in fastbin consolidation and
# frees. Sanitized builds keep the sanitizer's allocator. MALLOC_LIBS= opts out.
MALLOC_LIBS ?= $(if $(SAN),,$(shell pkg-config --libs jemalloc 2>/dev/null))

LIB_SRC    := $(wildcard src/common/*.c src/raft/*.c src/kv/*.c src/storage/*.c src/replica/*.c src/check/*.c)
RAFTKV_SRC := $(wildcard src/node/*.c src/server/*.c)
WHIRL_SRC  := $(wildcard src/whirl/*.c src/whirl/report/*.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
RAFT_TEST_SRC := $(wildcard tests/raft/*.c tests/lib/*.c)
TEST_NODE_SRC := $(wildcard tests/nodes/*.c)
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC))
# The drivers' code minus their main(), so unit tests can link it.
RAFTKV_MAIN := src/node/main.c
WHIRL_MAIN  := src/whirl/main.c
RAFTKV_LIB_OBJ := $(call obj,$(filter-out $(RAFTKV_MAIN),$(RAFTKV_SRC)))
WHIRL_LIB_OBJ  := $(call obj,$(filter-out $(WHIRL_MAIN),$(WHIRL_SRC)))

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps test test-unit test-e2e test-asan accept bench demo cluster cluster-stop clean mutate
all: $(BUILD)/raftkv $(BUILD)/whirl $(patsubst tests/nodes/%.c,$(BUILD)/tests/nodes/%,$(TEST_NODE_SRC))

# Debian packages the build needs; installed once, only when missing.
deps $(DEPS_STAMP): scripts/deps.sh
	@bash scripts/deps.sh build
	@mkdir -p $(BUILD) && touch $(DEPS_STAMP)

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c $< -o $@

$(BUILD)/libraftkv.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnode.a: $(RAFTKV_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libwhirl.a: $(WHIRL_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# main.c refers to server_main weakly; -u makes the archive yield the server.
$(BUILD)/raftkv: $(call obj,$(RAFTKV_MAIN)) $(BUILD)/libnode.a $(BUILD)/libraftkv.a
	$(CC) $(LDFLAGS) -Wl,-u,server_main -o $@ $^ $(LIBS) $(MALLOC_LIBS)

$(BUILD)/whirl: $(call obj,$(WHIRL_MAIN)) $(BUILD)/libwhirl.a $(BUILD)/libraftkv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(MALLOC_LIBS)

$(BUILD)/tests/nodes/%: $(BUILD)/obj/tests/nodes/%.o $(BUILD)/libraftkv.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit_tests: $(call obj,$(UNIT_SRC)) $(BUILD)/libwhirl.a $(BUILD)/libnode.a $(BUILD)/libraftkv.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BUILD)/tests/raft_tests: $(call obj,$(RAFT_TEST_SRC)) $(BUILD)/libraftkv.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libraftkv.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

TEST_BINS := $(if $(UNIT_SRC),$(BUILD)/tests/unit_tests) $(if $(RAFT_TEST_SRC),$(BUILD)/tests/raft_tests)

# The C tests, in this build (normal or sanitized).
test-unit: all $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; $$t --jobs 2; done

# End-to-end: whirl against real node binaries, the checker suite, reports.
test-e2e: all
	@bash tests/e2e/run.sh $(BUILD)

# The same C tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test-unit

test: test-unit test-asan test-e2e
	@echo "make test: all suites passed"

accept: all
	@bash tests/e2e/accept.sh $(BUILD)

bench: all $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
	@bash bench/run.sh $(BUILD)

demo: all
	@bash scripts/demo.sh $(BUILD)

# Each bug of tests/mutants/ in a scratch copy, against the fast suites
# (not part of make test: it takes a while). MUTANTS="raft kv" picks areas or ids.
mutate:
	@/usr/bin/python3 scripts/mutate.py $(MUTANTS)

cluster: all
	@bash scripts/cluster.sh start $(BUILD)

cluster-stop:
	@bash scripts/cluster.sh stop $(BUILD)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
