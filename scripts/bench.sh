#!/usr/bin/env bash
# Runnel benchmark: `runnel bench` (librdkafka) against runneld and against
# librdkafka's in-process mock cluster (`--brokers mock`), in alternating rounds.
#
#   scripts/bench.sh            (or: make bench)
#
# Environment:
#   ROUNDS=3           rounds; every case runs once per round, runneld and mock
#                      interleaved (the order flips every round)
#   RECORDS=1000000    records per run
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
        for i in $(seq 1 100); do
            broker_alive || break
            sleep 0.1
        done
        if broker_alive; then
            log "bench: BROKER MISBEHAVIOUR: runneld (pid $BPID) still running 10 s after SIGTERM; sending SIGKILL"
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
    out=$(timeout -k 5 "$RUN_TIMEOUT" "$RUNNEL" --brokers "$boot" --output json bench "$@" --records "$RECORDS" \
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

P="--partitions $PARTITIONS --record-size $RECORD_SIZE"
for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    pair produce-acks1 "$r" produce --topic bench-acks1-r$r --acks 1 $P
    # shellcheck disable=SC2086
    pair produce-acksall "$r" produce --topic bench-acksall-r$r --acks all $P
    # runneld reads back the RECORDS records of this round's produce-acks1
    # run; the mock fills its own topic first (untimed).
    # shellcheck disable=SC2086
    pair consume "$r" consume --topic bench-acks1-r$r $P
    if broker_alive; then
        for t in bench-acks1-r$r bench-acksall-r$r; do
            timeout -k 5 60 "$RUNNEL" --brokers "$BOOT" topic delete "$t" >/dev/null 2>>"$WORK/delete.err" ||
                { log "bench: [$r] deleting topic $t FAILED:"; tail -3 "$WORK/delete.err" >&2; FAILED=1; }
        done
    fi
done

stop_broker

python3 - "$RESULTS" "$RECORDS" "$RECORD_SIZE" <<'EOF'
import json, statistics, sys
path, records, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    case, target, rnd, rc, bcpu, js = line.rstrip("\n").split("\t", 5)
    try:
        d = json.loads(js)
    except ValueError:
        d = {"error": "bad json: " + js[:80]}
    d["rc"] = int(rc)
    d["runneld_cpu_s"] = float(bcpu) if bcpu != "nan" else None
    rows.setdefault((case, target), []).append(d)

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def f(x, fmt):
    return "-" if x is None else format(x, fmt)

cases = ["produce-acks1", "produce-acksall", "consume"]
print()
print(f"Medians over runs ({records} records x {size} B). 'server cpu' is runneld's utime+stime (from /proc) for")
print("runneld rows and the in-process mock broker thread for mock rows; 'client cpu' excludes the mock thread.")
hdr = f"{'case':<16} {'target':<8} {'ok/runs':>7} {'rec/s':>10} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'client cpu':>10} {'server cpu':>10}  server cpu per run"
print(hdr)
print("-" * len(hdr))
summary = {}
for case in cases:
    for target in ["runneld", "mock"]:
        runs = rows.get((case, target), [])
        if not runs:
            continue
        good = [d for d in runs if d["rc"] == 0 and not d.get("error")]
        rps = med([d.get("records_per_s") for d in good])
        mbps = med([d.get("mb_per_s") for d in good])
        p50 = med([(d.get("ack_latency_ms") or {}).get("p50") for d in good])
        p99 = med([(d.get("ack_latency_ms") or {}).get("p99") for d in good])
        mx = med([(d.get("ack_latency_ms") or {}).get("max") for d in good])
        ccpu = med([(d.get("cpu_s") or 0) - (d.get("mock_cpu_s") or 0) for d in good])
        if target == "runneld":
            scpu_runs = [d["runneld_cpu_s"] for d in runs]
        else:
            scpu_runs = [d.get("mock_cpu_s") for d in runs]
        scpu = med([s for d, s in zip(runs, scpu_runs) if d in good])
        summary[(case, target)] = dict(rps=rps, p50=p50, p99=p99, scpu=scpu, ccpu=ccpu)
        per = " ".join(f(s, ".2f") for s in scpu_runs)
        print(f"{case:<16} {target:<8} {len(good):>3}/{len(runs):<3} {f(rps, ',.0f'):>10} {f(mbps, '.1f'):>8} "
              f"{f(p50, '.2f'):>8} {f(p99, '.2f'):>8} {f(mx, '.2f'):>8} {f(ccpu, '.2f'):>10} {f(scpu, '.2f'):>10}  {per}")
print()
print("runneld / mock ratios (throughput > 1: runneld faster; latency < 1: runneld lower):")
for case in cases:
    a, b = summary.get((case, "runneld")), summary.get((case, "mock"))
    if not a or not b:
        continue
    def ratio(k):
        return "-" if a[k] is None or b[k] in (None, 0) else f"{a[k] / b[k]:.2f}"
    extra = ""
    if case != "consume":
        extra = f"  p50 latency {ratio('p50'):>5}  p99 latency {ratio('p99'):>5}"
    us = "-" if a["scpu"] is None or not a["rps"] else f"{a['scpu'] / records * 1e6:.2f}"
    print(f"  {case:<16} throughput {ratio('rps'):>5}{extra}  runneld cpu {us} us/record")
errs = [(c, t, d) for (c, t), runs in rows.items() for d in runs if d["rc"] != 0 or d.get("error")]
if errs:
    print()
    print("FAILED RUNS:")
    for c, t, d in errs:
        print(f"  {c} {t}: exit {d['rc']}: {d.get('error')}")
EOF

if [ "$FAILED" = 1 ]; then
    log "bench: some runs failed or the broker misbehaved (see above)"
    exit 1
fi
exit 0
