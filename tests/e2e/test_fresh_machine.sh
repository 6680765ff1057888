#!/usr/bin/env bash
# test_fresh_machine.sh - the README's first command on a machine without the
# Debian packages: in a clean clone of this tree (HEAD plus uncommitted edits
# to tracked files), with fake pkg-config, dpkg-query, apt-get and sudo first
# on PATH that know of no package until the fake `apt-get install` has run
# (then they hand over to the real tools), the first `make -j2 all` must
# install the build packages once and link build/raftkv and build/whirl.
#   tests/e2e/test_fresh_machine.sh BUILD      (BUILD is not used)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
scratch

repo=$(cd "$(dirname "$0")/../.." && pwd)
for tool in git pkg-config dpkg-query; do
  command -v "$tool" >/dev/null || fail "$tool missing (bash scripts/deps.sh build)"
done

# The clone: objects shared with the repository, so it takes a moment.
head=$(git -C "$repo" rev-parse HEAD) || fail "$repo is not a git checkout"
edits=$(cd "$repo" && GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@localhost \
  GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@localhost git stash create 2>/dev/null)
clone=$tmp/clone
git clone -q --shared --no-checkout "$repo" "$clone" || fail "git clone"
git -C "$clone" checkout -q --detach "${edits:-$head}" || fail "checkout ${edits:-$head}"
echo "clone of $head${edits:+ with uncommitted edits} in $clone"

# The fresh machine: nothing installed until the fake apt-get installs.
fake=$tmp/fake-bin state=$tmp/state
mkdir -p "$fake" "$state"
installed=$state/installed
cat >"$fake/pkg-config" <<EOF
#!/bin/sh
[ -e "$installed" ] && exec "$(command -v pkg-config)" "\$@"
echo "pkg-config: command not found (fresh machine)" >&2
exit 127
EOF
cat >"$fake/dpkg-query" <<EOF
#!/bin/sh
[ -e "$installed" ] && exec "$(command -v dpkg-query)" "\$@"
echo "dpkg-query: no packages found (fresh machine)" >&2
exit 1
EOF
cat >"$fake/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$state/apt-get.log"
case " \$* " in *" install "*) touch "$installed" ;; esac
exit 0
EOF
cat >"$fake/sudo" <<'EOF'
#!/bin/sh
exec "$@"
EOF
chmod +x "$fake"/*

fresh_make() { # a make in the clone as a user would type it, outside any make
  (cd "$clone" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    PATH="$fake:$PATH" timeout 300 make "$@")
}

start=$(date +%s)
fresh_make -j2 all >"$tmp/make1.log" 2>&1
rc=$?
[ $rc -eq 0 ] || { tail -n 30 "$tmp/make1.log"; fail "the first make -j2 all exited $rc"; }
for b in raftkv whirl; do
  [ -x "$clone/build/$b" ] || fail "the first make did not build build/$b"
done
echo "first make -j2 all: built build/raftkv and build/whirl in $(( $(date +%s) - start )) s"

grep -q ' install ' "$state/apt-get.log" 2>/dev/null || fail "apt-get install was never called"
installs=$(grep -c ' install ' "$state/apt-get.log")
[ "$installs" -eq 1 ] || fail "apt-get install called $installs times: $(cat "$state/apt-get.log")"
line=$(grep ' install ' "$state/apt-get.log")
for p in pkg-config libjansson-dev libuv1-dev libcriterion-dev libjemalloc-dev; do
  grep -qw -- "$p" <<<"$line" || fail "apt-get install without $p: $line"
done
echo "apt-get: $line"

# What was linked uses the installed libraries (jemalloc as the allocator).
ldd "$clone/build/raftkv" | grep -q libjansson || fail "build/raftkv is not linked with jansson"
ldd "$clone/build/raftkv" | grep -q libjemalloc || fail "build/raftkv is not linked with jemalloc"
"$clone/build/whirl" --version | grep -q '^whirl ' || fail "build/whirl --version"

# The second make installs nothing more and has nothing to do.
fresh_make all >"$tmp/make2.log" 2>&1 || { tail -n 30 "$tmp/make2.log"; fail "the second make exited $?"; }
installs=$(grep -c ' install ' "$state/apt-get.log")
[ "$installs" -eq 1 ] || fail "the second make called apt-get install again"
grep -q "Nothing to be done for 'all'" "$tmp/make2.log" || { cat "$tmp/make2.log"; fail "the second make rebuilt"; }
echo "second make: nothing to install, nothing to rebuild"
echo "ok"
