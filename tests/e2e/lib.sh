# lib.sh - the preamble shared by the tests/e2e/test_*.sh scripts: the build
# folder from the script's $1 (absolute, so a test may cd), the programs in
# it, fail, and a scratch folder removed on exit. Sourced, not run; not a
# test (the runner runs test_*.sh only). The TCP server's tests use
# lib_server.sh instead, which keeps node logs on failure.
#   source "$(dirname "$0")/lib.sh"     (sees the script's own $1)

fail() { echo "FAIL: $*" >&2; exit 1; }

build=$(cd "${1:-build}" 2>/dev/null && pwd) || fail "no build folder ${1:-build} (run make)"
whirl=$build/whirl
raftkv=$build/raftkv
localkv=$build/tests/nodes/localkv

# need FILE...: each FILE is an executable, or the test stops naming it.
need() {
  local f
  for f in "$@"; do [ -x "$f" ] || { echo "no $f (run make)"; exit 1; }; done
}

# scratch: make $tmp, a folder removed when the script exits (KEEP=1 keeps it).
scratch() {
  tmp=$(mktemp -d)
  trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
}
