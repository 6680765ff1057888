#!/usr/bin/env bash
# test_accept_chapter.sh - short version of issue 2's chapter run (3 nodes,
# 4n clients at 30/s, partitions every 10 s: valid, majority side answering
# again within 1 s) and of its no-fault availability (>= 99.9% of requests
# answered from the data). The full ones are in accept.sh.
#   tests/e2e/test_accept_chapter.sh BUILD
set -euo pipefail
source "$(dirname "$0")/accept/common.sh"
chapter=(--bin "$raftkv" --node-count 3 --concurrency 4n --rate 30 --no-report)
echo "== the chapter's run, 20 s: valid, recovery within 1 s"
runs chapter 1 --expect-valid --max-recovery-ms 1000 --min-recovery-changes 0 -- \
  "${chapter[@]}" --time-limit 20 --nemesis partition --nemesis-interval 10
echo "== no faults, 10 s: valid, at least 99.9% answered from the data"
runs no-faults 1 --expect-valid --min-answered 0.999 -- "${chapter[@]}" --time-limit 10
echo "== the harness itself: an invalid verdict and a missed criterion are failures"
# --availability total makes whirl's verdict invalid as soon as one cas
# fails with 22 (it always does at this load); recovery over 0 ms can't hold.
if runs harness-invalid 1 --expect-valid -- "${chapter[@]}" --time-limit 3 --availability total >"$tmp/h1" 2>&1; then
  cat "$tmp/h1"; echo "FAIL: an invalid run passed"; exit 1
fi
grep -q "^FAIL harness-invalid.*valid=False" "$tmp/h1" || { cat "$tmp/h1"; echo "FAIL: no FAIL line"; exit 1; }
grep -q "replay: .*--seed $seed" "$tmp/h1" || { cat "$tmp/h1"; echo "FAIL: no replay command"; exit 1; }
if runs harness-recovery 1 --max-recovery-ms 0 -- "${chapter[@]}" --time-limit 4 --nemesis partition \
  --nemesis-interval 1 >"$tmp/h2" 2>&1; then
  cat "$tmp/h2"; echo "FAIL: recovery within 0 ms passed"; exit 1
fi
grep -q "recovery over 0 ms" "$tmp/h2" || { cat "$tmp/h2"; echo "FAIL: no recovery reason"; exit 1; }
echo "   both judged FAIL, with the reason and the replay command"
echo "ok"
