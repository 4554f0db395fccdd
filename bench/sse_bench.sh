#!/usr/bin/env bash
# sse_bench.sh: server-sent events fan-out. 1, 100 and 1,000 subscribers stream one
# partition (a fresh topic per run, flush.policy interval) while a producer writes
# SSE_RATE (default 10,000) records/s for SSE_SECONDS (default 5); one line per run from
# sse-fanout: delivered events/s, produce-to-event latency p50/p99/max, the subscribers
# that missed a record (should be 0) and the server's CPU. No timed assertion: the run
# fails only if a subscriber lost a record (a gap or repeat in the ids) or a produce
# failed. SSE_PRODUCERS (default 4) producer connections share the rate, so that a
# slow produce answer does not hold the rate down. The server's warnings are counted at
# the end (the streams of subscribers that went away are noticed late).
# Each run is followed by its ceiling on this machine: loopback-fanout moves the same
# events (100 per batch, 150 bytes each) over as many loopback TCP connections with
# no HTTP and no parsing, one writer thread and one reader thread: the kernel's share.
# Usage: bench/sse_bench.sh RILL_BIN SSE_FANOUT_BIN LOOPBACK_FANOUT_BIN
set -euo pipefail

rill=$1 fanout=$2 loopback=$3
secs=${SSE_SECONDS:-5}
rate=${SSE_RATE:-10000}
batch=${SSE_BATCH:-100}
producers=${SSE_PRODUCERS:-4}
subs_list=${SSE_SUBS:-"1 100 1000"}
work=$(mktemp -d)
rill_pid=
trap '[ -n "$rill_pid" ] && kill "$rill_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# a descriptor per subscriber, on both sides
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
    ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 2100 ] ||
    { echo "sse_bench: ulimit -n is $(ulimit -n); 1,000 subscribers need more" >&2; exit 1; }

"$rill" serve --listen 127.0.0.1:0 --data "$work/data" --log-level warn \
    --max-connections 4096 --max-connections-per-ip 4096 2> "$work/rill.log" &
rill_pid=$!
for _ in $(seq 100); do [ -s "$work/data/rill.addr" ] && break; sleep 0.1; done
addr=$(cat "$work/data/rill.addr")
token=$(cat "$work/data/admin.token")

echo "SSE fan-out: one partition, $rate records/s for ${secs}s in requests of $batch" \
     "on $producers connections, $(nproc) cores shared by server and load generator"
status=0
for n in $subs_list; do
    topic="fanout$n"
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$topic\",\"partitions\":1,\"config\":{\"flush.policy\":\"interval\"}}" \
        "http://$addr/topics" > /dev/null
    sync; sleep 1 # start quiet
    "$fanout" --addr "$addr" --token "$token" --topic "$topic" --subs "$n" \
        --seconds "$secs" --rate "$rate" --batch "$batch" --producers "$producers" \
        --server-pid "$rill_pid" ||
        status=1
    sync; sleep 1
    echo "  ceiling: $("$loopback" --subs "$n" --seconds "$secs" --rate "$rate" --batch "$batch")"
done
echo "rill server max RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$rill_pid/status)"
kill "$rill_pid"
wait "$rill_pid" 2>/dev/null || true
rill_pid=
if [ -s "$work/rill.log" ]; then
    echo "rill server log: $(wc -l < "$work/rill.log") lines, most frequent:"
    # shellcheck disable=SC2016 # the backquote is MHD's, not a command substitution
    sed -E 's/^[0-9T:.-]+Z //; s/`[^`]*'"'"'/`...'"'"'/' "$work/rill.log" | sort | uniq -c |
        sort -rn | head -3
fi
exit $status
