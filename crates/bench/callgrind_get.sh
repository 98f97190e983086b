#!/usr/bin/env bash
# Instructions the server executes per request, counted by valgrind's callgrind: a figure that
# does not move with the machine's load, for A/B comparisons of two builds on the same data
# (wall-clock rates on a shared 2-core VM swing by a third from minute to minute).
#
# Usage:
#   crates/bench/callgrind_get.sh BINARY IDS_FILE [DATABASE_URL | SQLITE_DATA_DIR] [PATH_PREFIX]
#
#   BINARY          a release `satang` (debug info helps callgrind_annotate)
#   IDS_FILE        customer ids, one per line, present in the database
#   DATABASE_URL    postgres://… of a database loaded by `satang-bench customers --load-only`
#   SQLITE_DATA_DIR or the SQLite data directory that command kept
#   PATH_PREFIX     default /api/customers/ (each request is PATH_PREFIX + id); /healthz? gives
#                   the HTTP stack alone for scale
#
# The server runs under callgrind with the bench's administrator (the loaded data has it); the
# ids are fetched once on one keep-alive connection (curl) to warm up, the counters are zeroed,
# then fetched twice more and the counters dumped. Prints instructions per request.
# Needs valgrind, curl and python3.
set -euo pipefail
binary=$1
ids=$2
target=${3:-}
prefix=${4:-/api/customers/}
port=$((20000 + RANDOM % 10000))
work=$(mktemp -d)
data_dir=$work/data
env_args=(env -u DATABASE_URL
  SATANG_ADMIN_EMAIL=bench@satang.test
  SATANG_ADMIN_PASSWORD='Bench-paddy-Harvest-2024!'
  SATANG_API_RATE_LIMIT=0 SATANG_LOG=warn)
case "$target" in
  postgres://* | postgresql://*) env_args+=(DATABASE_URL="$target") ;;
  "") ;;
  *) data_dir=$target ;;
esac
"${env_args[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$binary" serve --addr "127.0.0.1:$port" --data-dir "$data_dir" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.5
done
token=$(curl -sf -X POST "http://127.0.0.1:$port/api/auth/login" \
  -H 'content-type: application/json' \
  -d '{"email":"bench@satang.test","password":"Bench-paddy-Harvest-2024!"}' |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
while read -r id; do
  [ -n "$id" ] && printf 'url = "http://127.0.0.1:%s%s%s"\noutput = /dev/null\n' "$port" "$prefix" "$id"
done <"$ids" >"$work/urls"
requests=$(grep -c '^url' "$work/urls")
curl -s -H "authorization: Bearer $token" -K "$work/urls"
callgrind_control -z "$server" >/dev/null 2>&1
curl -s -H "authorization: Bearer $token" -K "$work/urls"
curl -s -H "authorization: Bearer $token" -K "$work/urls"
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
total=$(awk '/^summary:/ {print $2}' "$work/callgrind.out.1")
echo "$(basename "$binary"): $((total / (2 * requests))) instructions per request" \
  "($((2 * requests)) requests; profile: $work/callgrind.out.1)"
