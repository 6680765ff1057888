# raftkv - one plain Makefile for the node, the workbench, the tests and the benchmarks.
#
#   make            build/raftkv and build/whirl (installs Debian packages if missing)
#   make test       unit, Raft-simulation and end-to-end tests, also under ASan+UBSan
#   make accept     the long acceptance runs (minutes to hours)
#   make bench      throughput and latency figures, with the exact commands
#   make bench-scale  issue 12's scale run (KEYS=N), side by side with Redis
#   make demo       a 5-node cluster under partitions, its verdict and report
#   make fuzz       libFuzzer on every parser, FUZZ_SECONDS (60) each
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
PKGS    := jansson libuv openssl lua5.1
# pkg-config's answers (PKG_*) live in $(BUILD)/flags.mk, written by the rule
# below after scripts/deps.sh has installed the packages. Make remakes an
# included makefile before anything else and then rereads everything, so on
# a fresh machine the first make installs, then asks pkg-config, then builds.
FLAGS_MK := $(BUILD)/flags.mk
LIBS     = $(PKG_LIBS) -lm
TEST_LIBS = $(PKG_TEST_LIBS)
# The servers (raftkv, whirl) allocate with jemalloc, as Redis does: glibc's
# malloc spent ~15% of a busy leader's CPU in fastbin consolidation and
# frees. Sanitized builds keep the sanitizer's allocator. MALLOC_LIBS= opts out.
MALLOC_LIBS ?= $(if $(SAN),,$(PKG_MALLOC_LIBS))

LIB_SRC    := $(wildcard src/common/*.c src/net/*.c src/raft/*.c src/kv/*.c src/storage/*.c src/replica/*.c src/router/*.c src/check/*.c)
RAFTKV_SRC := $(wildcard src/node/*.c src/server/*.c)
WHIRL_SRC  := $(wildcard src/whirl/*.c src/whirl/report/*.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
RAFT_TEST_SRC := $(wildcard tests/raft/*.c tests/lib/*.c)
TEST_NODE_SRC := $(wildcard tests/nodes/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC))
# The drivers' code minus their main(), so unit tests can link it.
RAFTKV_MAIN := src/node/main.c
WHIRL_MAIN  := src/whirl/main.c
RAFTKV_LIB_OBJ := $(call obj,$(filter-out $(RAFTKV_MAIN),$(RAFTKV_SRC)))
WHIRL_LIB_OBJ  := $(call obj,$(filter-out $(WHIRL_MAIN),$(WHIRL_SRC)))

.PHONY: all deps test test-unit test-e2e test-asan accept bench bench-scale demo cluster cluster-stop clean \
	fuzz fuzz-bins fuzz-replay mutate
all: $(BUILD)/raftkv $(BUILD)/whirl $(patsubst tests/nodes/%.c,$(BUILD)/tests/nodes/%,$(TEST_NODE_SRC))

# Debian packages the build needs, installed only when missing; then the
# flags pkg-config gives for them. Every goal but clean and cluster-stop reads
# flags.mk, so make, make demo and make test all install first.
$(FLAGS_MK): scripts/deps.sh Makefile
	@bash scripts/deps.sh build
	@mkdir -p $(dir $@)
	@set -e; cflags=$$(pkg-config --cflags $(PKGS)); libs=$$(pkg-config --libs $(PKGS)); \
	  test_libs=$$(pkg-config --libs criterion); malloc_libs=$$(pkg-config --libs jemalloc); \
	  printf '# written by the Makefile from pkg-config\nPKG_CFLAGS := %s\nPKG_LIBS := %s\nPKG_TEST_LIBS := %s\nPKG_MALLOC_LIBS := %s\n' \
	    "$$cflags" "$$libs" "$$test_libs" "$$malloc_libs" >$@.tmp; mv $@.tmp $@
ifneq ($(if $(MAKECMDGOALS),$(filter-out clean cluster-stop,$(MAKECMDGOALS)),all),)
include $(FLAGS_MK)
endif
deps: $(FLAGS_MK)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

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
	$(CC) $(LDFLAGS) -Wl,-u,server_main -Wl,-u,certs_main -Wl,-u,backup_main -Wl,-u,restore_main -o $@ $^ $(LIBS) $(MALLOC_LIBS)

$(BUILD)/whirl: $(call obj,$(WHIRL_MAIN)) $(BUILD)/libwhirl.a $(BUILD)/libraftkv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(MALLOC_LIBS)

# Kept, or the next make (which reads their .d files) would build them again.
.SECONDARY: $(call obj,$(TEST_NODE_SRC) $(BENCH_SRC))
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
# A restart's replay, measured with the allocator the server links.
$(BUILD)/bench/replay_bench: LIBS += $(MALLOC_LIBS)
$(BUILD)/bench/log_bench: LIBS += $(MALLOC_LIBS)
$(BUILD)/bench/compact_bench: LIBS += $(MALLOC_LIBS)
$(BUILD)/bench/table_bench: LIBS += $(MALLOC_LIBS)
# The server's entry table allocator, measured against realloc().
$(BUILD)/bench/table_bench: $(BUILD)/obj/src/server/log_table.o
$(BUILD)/bench/walk_bench: LIBS += $(MALLOC_LIBS)

# Fuzz targets (tests/fuzz/README.md): replay_<t> runs a target over files
# with replay_main.c, in any build; fuzz_<t> is the libFuzzer binary, made
# in build-fuzz by `make fuzz`.
.SECONDARY: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/fuzz/*.c))
FUZZ_LIB_OBJ := $(BUILD)/obj/tests/fuzz/scratch.o $(BUILD)/libnode.a $(BUILD)/libraftkv.a
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/replay_main.o $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

TEST_BINS := $(if $(UNIT_SRC),$(BUILD)/tests/unit_tests) $(if $(RAFT_TEST_SRC),$(BUILD)/tests/raft_tests)

# The C tests, in this build (normal or sanitized).
test-unit: all $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; $$t --jobs 2; done

# Every fuzz target over its seed corpus and saved regressions.
fuzz-replay: $(patsubst %,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do echo "== fuzz corpus $$t"; \
	  $(BUILD)/tests/fuzz/replay_$$t tests/fuzz/corpus/$$t; done

# End-to-end: whirl against real node binaries, the checker suite, reports.
test-e2e: all
	@bash scripts/deps.sh test
	@bash tests/e2e/run.sh $(BUILD)

# The same C tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test-unit fuzz-replay

test: test-unit test-asan test-e2e
	@echo "make test: all suites passed"

accept: all
	@bash tests/e2e/accept.sh $(BUILD)

bench: all $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
	@bash bench/run.sh $(BUILD)

# Issue 12's scale run (KEYS=N, default 10 million; about 20 minutes), then
# the replay of a million log entries. Not part of make test.
bench-scale: all $(BUILD)/bench/replay_bench $(BUILD)/bench/cow_fault
	@bash bench/bench_scale.sh $(BUILD)
	@$(BUILD)/bench/replay_bench

# libFuzzer (clang) on every target for FUZZ_SECONDS each; new inputs go to
# build-fuzz/corpus, or are merged into tests/fuzz/corpus with FUZZ_SAVE=1.
FUZZ_SECONDS ?= 60
FUZZ_SAVE ?= 0
fuzz:
	@bash scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT=-O1 \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  fuzz-bins
	@bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_SAVE) $(FUZZ_TARGETS)

fuzz-bins: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))

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
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
