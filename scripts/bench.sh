#!/usr/bin/env bash
# Runnel benchmark: `runnel bench` (librdkafka) against runneld and against
# librdkafka's in-process mock cluster (`--brokers mock`), in alternating rounds.
#
#   scripts/bench.sh            (or: make bench)
#
# Environment:
#   ROUNDS=3           rounds; every case runs once per round, runneld and mock
#                      interleaved (the order flips every round)
#   RECORDS=1000000    records per run of the 100 B cases
#   RECORDS_1K, LAT_RATE, LAT_SECONDS, LAT_LINGER_MS, SCALE (0 skips it),
#   SCALE_TOPICS, SCALE_PARTS, SCALE_PRODUCERS, SCALE_RECORDS, SCALE_IDLE:
#                      the other cases (defaults next to them below;
#                      bench/README.md, docs/performance.md)
#   RECORD_SIZE=100    bytes per record
#   PARTITIONS=1       partitions of the benchmark topics
#   RUN_TIMEOUT=120    seconds one `runnel bench` run may take before it is killed
#   RUNNELD, RUNNEL    binaries (default build/runneld, build/runnel)
#   KEEP=1             keep the temp dir (data, broker log, raw results)
#   WARMUP_MB=1024     MB written to (and deleted from) the temp dir before the
#                      broker starts; 0 to skip (see "page cache" below)
#
# Page cache: on a fresh VM (or after a VM snapshot/fork) the first write into
# never-touched guest memory costs ~10x more kernel time than into recycled
# page-cache pages (measured here: 100 MB with dd, 0.03 s sys vs 0.33 s).
# runneld's produce runs write to the page cache; the mock keeps ~5 MB in
# process memory.  So that this host effect does not show up as a runneld
# slowdown halfway through the rounds, the script recycles WARMUP_MB of page
# cache first, uses fresh topics every round and deletes them (DeleteTopics)
# at the end of the round, keeping the working set to ~250 MB.
#
# Prints a table of medians, the runneld/mock ratios and runneld's CPU seconds
# (utime+stime from /proc/PID/stat around each run).  Exit status 1 if any run
# failed or the broker misbehaved (died, did not stop on SIGTERM).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNNELD=${RUNNELD:-$ROOT/build/runneld}
RUNNEL=${RUNNEL:-$ROOT/build/runnel}
ROUNDS=${ROUNDS:-3}
RECORDS=${RECORDS:-1000000}
RECORD_SIZE=${RECORD_SIZE:-100}
PARTITIONS=${PARTITIONS:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
KEEP=${KEEP:-0}
WARMUP_MB=${WARMUP_MB:-1024}

for b in "$RUNNELD" "$RUNNEL"; do
    [ -x "$b" ] || { echo "bench: $b not built (run make bench)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/rnbench.XXXXXX)
RESULTS=$WORK/results.tsv
BLOG=$WORK/runneld.log
: >"$RESULTS"
BPID=
FAILED=0
TCK=$(getconf CLK_TCK)
STOP_WAIT=100   # tenths of a second runneld may take to stop after SIGTERM

log() { printf '%s\n' "$*" >&2; }

broker_alive() { [ -n "$BPID" ] && kill -0 "$BPID" 2>/dev/null; }

# runneld's CPU seconds so far (utime+stime of all its threads).
broker_cpu() {
    if [ -r "/proc/$BPID/stat" ]; then
        # Fields after the ")" closing comm: state is field 3, utime 14, stime 15.
        sed 's/^.*) //' "/proc/$BPID/stat" | awk -v t="$TCK" '{printf "%.2f", ($12 + $13) / t}'
    else
        echo "nan"
    fi
}

stop_broker() {
    [ -n "$BPID" ] || return 0
    if broker_alive; then
        kill -TERM "$BPID"
        local i
        for i in $(seq 1 "$STOP_WAIT"); do
            broker_alive || break
            sleep 0.1
        done
        if broker_alive; then
            log "bench: BROKER MISBEHAVIOUR: runneld (pid $BPID) still running $((STOP_WAIT / 10)) s after SIGTERM; sending SIGKILL"
            kill -KILL "$BPID" 2>/dev/null
            FAILED=1
        fi
    fi
    wait "$BPID" 2>/dev/null
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        log "bench: BROKER MISBEHAVIOUR: runneld exited with status $rc"
        FAILED=1
    fi
    BPID=
}

cleanup() {
    stop_broker
    if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ]; then
        log "bench: kept $WORK (runneld.log, results.tsv, per-run stderr)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$WARMUP_MB" -gt 0 ]; then
    dd if=/dev/zero of="$WORK/warmup" bs=1M count="$WARMUP_MB" status=none && sync "$WORK/warmup"
    rm -f "$WORK/warmup"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BOOT=127.0.0.1:$PORT
mkdir -p "$WORK/data"
"$RUNNELD" --override log.dirs="$WORK/data" --override listeners=PLAINTEXT://$BOOT >"$BLOG" 2>&1 &
BPID=$!
up=0
for i in $(seq 1 100); do
    broker_alive || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
done
if [ "$up" != 1 ]; then
    log "bench: runneld did not come up on $BOOT; its log:"
    cat "$BLOG" >&2
    FAILED=1
    exit 1
fi
log "bench: runneld pid $BPID on $BOOT, data in $WORK/data; $ROUNDS rounds x $RECORDS records x $RECORD_SIZE B, $PARTITIONS partition(s)"

# run_case CASE TARGET ROUND bench-args...   (TARGET: runneld | mock)
run_case() {
    local case=$1 target=$2 round=$3
    shift 3
    local boot=mock
    if [ "$target" = runneld ]; then
        boot=$BOOT
        if ! broker_alive; then
            log "bench: [$round] $case runneld: SKIPPED, broker is not running"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$target" "$round" 99 nan '{"error":"broker not running"}' >>"$RESULTS"
            FAILED=1
            return
        fi
    fi
    local err=$WORK/$case.$target.$round.err
    local c0 c1 out rc json bcpu
    c0=$(broker_cpu)
    out=$(timeout -k 5 "$RUN_TIMEOUT" "$RUNNEL" --brokers "$boot" --output json bench "$@" \
        --time-limit $((RUN_TIMEOUT - 10)) --quiet 2>"$err")
    rc=$?
    c1=$(broker_cpu)
    bcpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a == "nan" || b == "nan") print "nan"; else printf "%.2f", b - a }')
    json=$(printf '%s\n' "$out" | grep '^{' | tail -1)
    [ -n "$json" ] || json="{\"error\":\"runnel bench exit status $rc, no result (timeout $RUN_TIMEOUT s?)\"}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$target" "$round" "$rc" "$bcpu" "$json" >>"$RESULTS"
    log "bench: [$round] $case $target: $(printf '%s' "$json" | grep -o '"records_per_s":[0-9.]*') runneld_cpu=${bcpu}s rc=$rc"
    if [ "$rc" -ne 0 ]; then
        FAILED=1
        log "bench: [$round] $case $target FAILED (exit $rc); runnel stderr:"
        head -20 "$err" | sed 's/^/    /' >&2
    elif [ -s "$err" ]; then
        log "bench: [$round] $case $target: runnel stderr ($(wc -l <"$err") lines):"
        head -5 "$err" | sed 's/^/    /' >&2
    fi
    if [ "$target" = runneld ] && ! broker_alive; then
        log "bench: BROKER MISBEHAVIOUR: runneld died during $case round $round; last log lines:"
        tail -20 "$BLOG" | sed 's/^/    /' >&2
        FAILED=1
    fi
}

pair() { # pair CASE ROUND args...: runneld and mock, order flipping per round
    local case=$1 round=$2
    shift 2
    if [ $((round % 2)) = 1 ]; then
        run_case "$case" runneld "$round" "$@"
        run_case "$case" mock "$round" "$@"
    else
        run_case "$case" mock "$round" "$@"
        run_case "$case" runneld "$round" "$@"
    fi
}

# ---------------------------------------------------------------- standard set
# Records per run of each case (RECORDS is the 100 B cases').
R1K=${RECORDS_1K:-300000}            # 1 KiB x 8 partitions x 2 producers: ~300 MB
LAT_RATE=${LAT_RATE:-20000}          # steady rate of the latency case (records/s)
LAT_SECONDS=${LAT_SECONDS:-5}        # its length
LAT_LINGER_MS=${LAT_LINGER_MS:-0}    # its linger.ms: the latency case measures the broker, not the client's batching
P="--partitions $PARTITIONS --record-size $RECORD_SIZE"
for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    pair produce-acks1 "$r" produce --topic bench-acks1-r$r --acks 1 $P --records "$RECORDS"
    # shellcheck disable=SC2086
    pair produce-acksall "$r" produce --topic bench-acksall-r$r --acks all $P --records "$RECORDS"
    # runneld reads back the RECORDS records of this round's produce-acks1
    # run; the mock fills its own topic first (untimed).
    # shellcheck disable=SC2086
    pair consume "$r" consume --topic bench-acks1-r$r $P --records "$RECORDS"
    pair produce-1k-8p-2prod "$r" produce --topic bench-1k-r$r --acks 1 --partitions 8 --producers 2 \
        --record-size 1024 --records "$R1K"
    pair latency-20k-acksall "$r" e2e --topic bench-lat-r$r --acks all --rate "$LAT_RATE" \
        --linger-ms "$LAT_LINGER_MS" --records $((LAT_RATE * LAT_SECONDS)) --record-size "$RECORD_SIZE"
    if broker_alive; then
        for t in bench-acks1-r$r bench-acksall-r$r bench-1k-r$r bench-lat-r$r; do
            timeout -k 5 60 "$RUNNEL" --brokers "$BOOT" topic delete "$t" >/dev/null 2>>"$WORK/delete.err" ||
                { log "bench: [$r] deleting topic $t FAILED:"; tail -3 "$WORK/delete.err" >&2; FAILED=1; }
        done
    fi
done

# ---------------------------------------------------------------- scale
# SCALE_TOPICS topics x SCALE_PARTS partitions (default 50 x 200 = 10,000),
# one `runnel bench produce` process per topic with SCALE_PRODUCERS producers
# (default 20: 1,000 producers, each its own rd_kafka_t and connection, each
# writing 10 of its topic's partitions, so every partition has one producer),
# while bench/idle_conns.py holds SCALE_IDLE (1,000) idle connections.
# The load is split over topics because each rd_kafka_t keeps state for every
# partition of the topics it produces to: 1,000 instances x one 10,000-partition
# topic would be 10 million partition objects in the client, not the broker.
SCALE=${SCALE:-1}
SCALE_TOPICS=${SCALE_TOPICS:-50}
SCALE_PARTS=${SCALE_PARTS:-200}
SCALE_PRODUCERS=${SCALE_PRODUCERS:-20}
SCALE_RECORDS=${SCALE_RECORDS:-100000}   # per process (per topic)
SCALE_IDLE=${SCALE_IDLE:-1000}
SCALEF=$WORK/scale.txt
: >"$SCALEF"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$BPID/status" 2>/dev/null || echo nan; }
if [ "$SCALE" = 1 ] && broker_alive; then
    echo "rss_before_kb $(rss_kb)" >>"$SCALEF"
    t0=$(date +%s.%N)
    for j in $(seq 0 $((SCALE_TOPICS - 1))); do
        timeout -k 5 60 "$RUNNEL" --brokers "$BOOT" topic create "scale-$j" -p "$SCALE_PARTS" >/dev/null 2>>"$WORK/scale.err" ||
            { log "bench: scale: creating topic scale-$j FAILED"; FAILED=1; }
    done
    t1=$(date +%s.%N)
    echo "create_s $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')" >>"$SCALEF"
    echo "rss_partitions_kb $(rss_kb)" >>"$SCALEF"
    IDLE_OUT=$WORK/idle.out
    python3 "$ROOT/bench/idle_conns.py" 127.0.0.1 "$PORT" "$SCALE_IDLE" >"$IDLE_OUT" 2>>"$WORK/scale.err" &
    IPID=$!
    for i in $(seq 1 300); do
        grep -q '^ready' "$IDLE_OUT" 2>/dev/null && break
        kill -0 "$IPID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^ready' "$IDLE_OUT" || { log "bench: scale: idle connections did not open"; FAILED=1; }
    sleep 0.5
    echo "rss_idle_kb $(rss_kb)" >>"$SCALEF"
    log "bench: scale: $SCALE_TOPICS x $SCALE_PARTS partitions, $((SCALE_TOPICS * SCALE_PRODUCERS)) producers, $SCALE_IDLE idle connections"
    c0=$(broker_cpu)
    pids=()
    for j in $(seq 0 $((SCALE_TOPICS - 1))); do
        timeout -k 5 "$RUN_TIMEOUT" "$RUNNEL" --brokers "$BOOT" --output json bench produce --topic "scale-$j" \
            --acks 1 --producers "$SCALE_PRODUCERS" --records "$SCALE_RECORDS" --record-size "$RECORD_SIZE" \
            --time-limit $((RUN_TIMEOUT - 10)) --quiet >"$WORK/scale.$j.json" 2>"$WORK/scale.$j.err" &
        pids+=($!)
    done
    peak=0
    while :; do
        running=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
        v=$(rss_kb)
        [ "$v" != nan ] && [ "$v" -gt "$peak" ] && peak=$v
        [ "$running" = 1 ] || break
        sleep 0.2
    done
    for p in "${pids[@]}"; do wait "$p" || { log "bench: scale: a bench process failed"; FAILED=1; }; done
    c1=$(broker_cpu)
    echo "rss_peak_kb $peak" >>"$SCALEF"
    echo "broker_cpu_s $(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" >>"$SCALEF"
    kill -TERM "$IPID" 2>/dev/null
    wait "$IPID" 2>/dev/null
    echo "idle_$(grep '^alive' "$IDLE_OUT" | tr ' ' ' ')" >>"$SCALEF"
    echo "rss_after_kb $(rss_kb)" >>"$SCALEF"
    cat "$WORK"/scale.*.json 2>/dev/null | grep '^{' >"$WORK/scale.jsonl"
    STOP_WAIT=600   # 10,000 partitions take a while to close cleanly
fi

stop_broker

python3 "$ROOT/bench/report.py" "$RESULTS" "$RECORDS" "$RECORD_SIZE" "$R1K" "$WORK/scale.txt" "$WORK/scale.jsonl" \
    "$SCALE_TOPICS" "$SCALE_PARTS" "$SCALE_PRODUCERS" "$SCALE_IDLE" "$LAT_RATE"

if [ "$FAILED" = 1 ]; then
    log "bench: some runs failed or the broker misbehaved (see above)"
    exit 1
fi
exit 0
