#!/usr/bin/env bash
# test_report_serve.sh - `whirl serve` as a static server for a store: the
# run list (newest first, coloured by verdict), run pages with the right
# content types, a redirect to the trailing slash relative links need, 404
# and 405, and no way out of the store: "..", encoded "..", and a symlink
# pointing outside are all refused.
#   tests/e2e/test_report_serve.sh BUILD
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
whirl="$build/whirl"
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fails=0
expect() { # expect WHAT ACTUAL WANTED
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}

store="$work/store"
node "$here/report/gen_run.js" "$store/lin-kv/20250101T000000.000" --ops 60 --seed 1 >/dev/null
node "$here/report/gen_run.js" "$store/lin-kv/20250301T000000.000" --ops 60 --seed 2 --invalid >/dev/null
node "$here/report/gen_run.js" "$store/lin-kv/20250201T000000.000" --ops 60 --seed 3 >/dev/null
rm "$store/lin-kv/20250201T000000.000/results.json" # a run that never got a verdict
"$whirl" report "$store"/lin-kv/* >/dev/null
ln -s lin-kv/20250301T000000.000 "$store/latest"
echo "outside the store" >"$work/secret.txt"
ln -s "$work/secret.txt" "$store/lin-kv/20250301T000000.000/escape.txt"

"$whirl" serve --port 0 "$store" >"$work/serve.out" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q 'http://' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.out" | head -1 | cut -d: -f2)
[ -n "$port" ] || { echo "whirl serve did not start"; cat "$work/serve.out"; exit 1; }
base="http://127.0.0.1:$port"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
ctype() { curl -s -o /dev/null -w '%{content_type}' "$1"; }

curl -sf "$base/" >"$work/runs.html"
order=$(grep -o 'class="run [a-z]*"><td><a href="[^"]*"' "$work/runs.html" | sed 's/class="run \([a-z]*\)"><td><a href="\([^"]*\)"/\2:\1/' | tr '\n' ' ')
expect "the run list is newest first, with each verdict" "$order" \
  "/lin-kv/20250301T000000.000/:invalid /lin-kv/20250201T000000.000/:none /lin-kv/20250101T000000.000/:valid "
expect "the verdicts have colours" "$(grep -c 'tr.invalid td.v{background' "$work/runs.html")" 1
expect "a run page is served" "$(code "$base/lin-kv/20250301T000000.000/")" 200
expect "it is the run's index.html" "$(curl -s "$base/lin-kv/20250301T000000.000/" | grep -c 'Analysis invalid')" 1
expect "a folder without its slash is redirected" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$base/lin-kv/20250301T000000.000")" \
  "301 $base/lin-kv/20250301T000000.000/"
expect "the latest symlink inside the store is followed" "$(code "$base/latest/timeline.html")" 200
run="$base/lin-kv/20250301T000000.000"
expect "html content type" "$(ctype "$run/timeline.html")" "text/html; charset=utf-8"
expect "svg content type" "$(ctype "$run/rate.svg")" "image/svg+xml"
expect "json content type" "$(ctype "$run/results.json")" "application/json"
expect "txt content type" "$(ctype "$run/independent/0/linear.txt")" "text/plain; charset=utf-8"
expect "log content type" "$(ctype "$run/node-logs/n0.log")" "text/plain; charset=utf-8"
expect "a file's bytes are served whole" "$(curl -s "$run/rate.svg" | cmp - "$store/lin-kv/20250301T000000.000/rate.svg" && echo same)" same
expect "a folder without index.html gets a listing" "$(curl -s "$run/node-logs/" | grep -c 'href="n0.log"')" 1
expect "a missing file is 404" "$(code "$run/nope.html")" 404
expect "POST is refused" "$(code -X POST "$base/")" 405
expect "HEAD answers with the headers" "$(curl -s -I "$run/rate.svg" | grep -ci '^content-type: image/svg+xml')" 1
expect "../ is refused" "$(code --path-as-is "$base/../../etc/passwd")" 403
expect "an encoded .. is refused" "$(code --path-as-is "$base/lin-kv/%2e%2e/%2e%2e/etc/passwd")" 403
expect "a .. in the middle is refused" "$(code --path-as-is "$base/lin-kv/../lin-kv/20250301T000000.000/")" 403
expect "a symlink out of the store is refused" "$(code "$run/escape.txt")" 403
expect "an encoded NUL is refused" "$(code --path-as-is "$base/index.html%00.svg")" 403
expect "a bad escape is refused" "$(code --path-as-is "$base/%zz")" 403
long=$(head -c 20000 /dev/zero | tr '\0' a)
expect "an oversized request is refused" "$(code "$base/$long")" 431
expect "the server still answers after all that" "$(code "$base/")" 200
[ "$fails" -eq 0 ] || { echo "test_report_serve: $fails checks failed"; exit 1; }
echo "test_report_serve: passed"
