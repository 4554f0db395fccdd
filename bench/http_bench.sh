#!/usr/bin/env bash
# http_bench.sh: rill over HTTP against the ceiling of its own stack, in one run.
# A bare libmicrohttpd server answering 204 is the ceiling (and the same server appending
# each body to a file and answering after a group-commit fdatasync, the ceiling of a
# durable answer); then rill's produce of one
# 100 B record per request (flush.policy interval and always), batched produce (100
# and 1000 records per request) and fetch of 1000 records per request, 64 connections
# each, with wrk. Prints msgs/s, MB/s, p50/p99 latency and the ratio to the ceiling.
# This machine's throughput drifts by 20% from one run to the next, so the ceilings and
# the two single-record runs are measured in BENCH_ROUNDS (default 3) interleaved
# rounds and the median round is printed; each run starts after a sync, so the previous
# run's writeback does not land on the next.
# Usage: bench/http_bench.sh RILL_BIN BARE_BIN
set -euo pipefail

rill=$1 bare=$2
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=64
threads=2
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# value of a wrk latency percentile line ("    50%  1.23ms") in ms
pct() {
    awk -v p="$1%" '$1 == p {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
        printf "%.2f", v }' "$2"
}

# measure NAME URL LUA: one wrk run into $work/NAME.N.txt (N counts the rounds);
# sets last_out and last_rps
measure() {
    local name=$1 url=$2 lua=$3 n=0
    while [ -e "$work/$name.$n.txt" ]; do n=$((n + 1)); done
    last_out="$work/$name.$n.txt"
    sync; sleep 1 # start quiet: the previous run's dirty pages are written back
    wrk -t$threads -c$conns -d${secs}s --latency -s "$lua" "$url" > "$last_out"
    last_rps=$(awk '/^Requests\/sec:/ {print $2}' "$last_out")
}

# median NAME: the output file of NAME's median run (by req/s)
median() {
    local f
    for f in "$work/$1".*.txt; do
        echo "$(awk '/^Requests\/sec:/ {print $2}' "$f") $f"
    done | sort -n | awk '{a[NR] = $2} END {print a[int((NR + 1) / 2)]}'
}

# report NAME OUT RECORDS_PER_REQUEST BYTES_PER_RECORD: one line from a wrk output;
# sets last_rps
report() {
    local name=$1 out=$2 per=$3 bytes=$4 rps msgs mb ratio errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    msgs=$(awk -v r="$rps" -v p="$per" 'BEGIN {printf "%.0f", r * p}')
    mb=$(awk -v r="$rps" -v p="$per" -v b="$bytes" 'BEGIN {printf "%.1f", r * p * b / 1e6}')
    ratio=$(awk -v r="$rps" -v c="${ceiling:-$rps}" 'BEGIN {printf "%.2f", r / c}')
    errs=$(awk '/Non-2xx/ {print $NF}' "$out"); errs=${errs:-0}
    printf "%-34s %9.0f req/s %10s msgs/s %8s MB/s  p50 %6s ms  p99 %7s ms  x%s of ceiling%s\n" \
        "$name" "$rps" "$msgs" "$mb" "$(pct 50 "$out")" "$(pct 99 "$out")" "$ratio" \
        "$([ "$errs" != 0 ] && echo "  ($errs non-2xx!)")"
    last_rps=$rps
}

# run NAME URL LUA RECORDS_PER_REQUEST BYTES_PER_RECORD: measure once and report
run() {
    measure "$1" "$2" "$3"
    report "$1" "$last_out" "$4" "$5"
}

lua() { # METHOD BODY_FILE -> script path
    local f="$work/$RANDOM.lua"
    {
        echo "wrk.method = \"$1\""
        echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
        echo "wrk.headers[\"Content-Type\"] = \"application/json\""
        if [ -n "${2:-}" ]; then
            echo "local f = io.open(\"$2\", \"rb\"); wrk.body = f:read(\"*a\"); f:close()"
        fi
    } > "$f"
    echo "$f"
}

records() { # N -> a produce body of N records with 100-byte values
    local n=$1 v
    v=$(printf 'x%.0s' $(seq 1 98))
    {
        printf '{"records":['
        for ((i = 0; i < n; i++)); do
            [ $i -gt 0 ] && printf ','
            printf '{"value":"%s"}' "$v"
        done
        printf ']}'
    } > "$work/body$n.json"
    echo "$work/body$n.json"
}

echo "HTTP benchmark: wrk, $conns connections, ${secs}s each, $threads server threads," \
     "median of $rounds interleaved rounds for the first four lines"

port=$(free_port)
"$bare" "$port" $threads &
bare_pid=$!
sync_port=$(free_port)
"$bare" "$sync_port" $threads "$work/bare-sync.log" & # the same, each answer after fdatasync
bare_sync_pid=$!
"$rill" serve --listen 127.0.0.1:0 --data "$work/data" --threads $threads --log-level warn &
rill_pid=$!
for _ in $(seq 100); do [ -f "$work/data/rill.addr" ] && break; sleep 0.1; done
base="http://$(cat "$work/data/rill.addr")"
token=$(cat "$work/data/admin.token")
for t in interval always; do
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$t\",\"partitions\":2,\"config\":{\"flush.policy\":\"$t\"}}" \
        "$base/topics" > /dev/null
done
one=$(lua POST "$(records 1)")
for _ in $(seq "$rounds"); do
    measure ceiling "http://127.0.0.1:$port/" "$one"
    measure interval "$base/topics/interval/messages" "$one"
    measure always "$base/topics/always/messages" "$one"
    measure durable "http://127.0.0.1:$sync_port/" "$one"
done
kill $bare_pid $bare_sync_pid; wait $bare_pid $bare_sync_pid 2>/dev/null || true

report "bare libmicrohttpd 204 (ceiling)" "$(median ceiling)" 1 100
ceiling=$last_rps
report "produce 1 x 100 B, interval" "$(median interval)" 1 100
interval=$last_rps
report "produce 1 x 100 B, always (fsync)" "$(median always)" 1 100
always=$last_rps
report "bare libmicrohttpd + fdatasync 204" "$(median durable)" 1 100
echo "  always vs interval: $(awk -v a="$always" -v i="$interval" 'BEGIN {printf "%.2fx slower", i / a}');" \
     "always vs bare libmicrohttpd + fdatasync (the ceiling of a durable answer):" \
     "$(awk -v a="$always" -v d="$last_rps" 'BEGIN {printf "x%.2f", a / d}')"
run "produce 100 x 100 B, interval" "$base/topics/interval/messages" "$(lua POST "$(records 100)")" 100 100
run "produce 1000 x 100 B, interval" "$base/topics/interval/messages" "$(lua POST "$(records 1000)")" 1000 100
run "fetch 1000 x 100 B" "$base/topics/interval/partitions/0?offset=earliest&limit=1000" "$(lua GET)" 1000 100
echo "rill server max RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$rill_pid/status)"
