# common.sh - sourced by the short acceptance tests (test_accept_*.sh): the
# build's binaries, a scratch folder removed at exit, and the seed (from
# ACCEPT_SEED; else fixed under CI, so a submission's verdict is reproducible,
# and from the clock on a developer's machine, so local runs explore new
# schedules; always printed so a failure can be replayed).
build=${1:-build}
accept_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
whirl=$build/whirl
raftkv=$build/raftkv
for b in "$whirl" "$raftkv"; do
  [ -x "$b" ] || { echo "FAIL: $b is not built"; exit 1; }
done
if [ -n "${ACCEPT_SEED:-}" ]; then
  seed=$ACCEPT_SEED
elif [ -n "${CI:-}" ]; then
  seed=20261126
else
  seed=$(( $(date +%s%N) / 1000 % 1000000 ))
fi
echo "seed $seed (replay with ACCEPT_SEED=$seed)"
tmp=$(mktemp -d)
# Keep the runs of a failing test for inspection; remove them otherwise.
trap 'rc=$?; if [ $rc = 0 ]; then rm -rf "$tmp"; else echo "runs kept in $tmp"; fi' EXIT
# runs NAME K [criteria...] -- whirl test args...: K runs from $seed.
runs() {
  local name=$1 k=$2
  shift 2
  python3 "$accept_dir/whirl_runs.py" --whirl "$whirl" --name "$name" --runs "$k" --seed "$seed" \
    --store "$tmp/$name" --report-failures "$@"
}
