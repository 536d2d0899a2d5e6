#!/usr/bin/env python3
"""Summarises scripts/bench.sh's raw results into one table (make bench).

    report.py RESULTS.tsv RECORDS RECORD_SIZE RECORDS_1K SCALE.txt SCALE.jsonl \
              SCALE_TOPICS SCALE_PARTS SCALE_PRODUCERS SCALE_IDLE LAT_RATE

RESULTS.tsv has one line per run: case, target, round, exit status, runneld
CPU seconds over the run (from /proc), and the JSON line of `runnel bench`.
"""
import json
import os
import statistics
import sys

(path, records, size, r1k, scale_txt, scale_jsonl, s_topics, s_parts, s_prod, s_idle,
 lat_rate) = sys.argv[1:12]
records, size, r1k = int(records), int(size), int(r1k)

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


def good(case, target):
    return [d for d in rows.get((case, target), []) if d["rc"] == 0 and not d.get("error")]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, fmt):
    return "-" if x is None else format(x, fmt)


def server_cpu(d, target):
    return d["runneld_cpu_s"] if target == "runneld" else d.get("mock_cpu_s")


def m(case, target, key, sub=None):
    vals = []
    for d in good(case, target):
        v = d.get(key)
        if sub is not None:
            v = (v or {}).get(sub)
        vals.append(v)
    return med(vals)


def ratio(a, b):
    return None if a is None or not b else a / b


def cpu_per_gb(case, target):
    vals = []
    for d in good(case, target):
        c = server_cpu(d, target)
        gb = (d.get("ok") or 0) * d.get("record_size", 0) / 1e9
        if c is not None and gb > 0:
            vals.append(c / gb)
    return med(vals)


nr = {k: len(v) for k, v in rows.items()}
rounds = max(nr.values()) if nr else 0
out = []
P = out.append
P("")
P(f"Runnel benchmark: medians of {rounds} alternating rounds (runneld and librdkafka's mock cluster,")
P("the order flipping every round). 'broker cpu' is runneld's utime+stime from /proc; for the mock,")
P("its broker thread (rdk:mock). Ratios are runneld / baseline.")
P("")
hdr = f"{'case':<44} {'runneld':>12} {'baseline':>12} {'ratio':>6}  {'target':<10} {'ok':<4}"
P(hdr)
P("-" * len(hdr))


def line(name, a, b, fmt, r=None, target="", ok=None):
    okstr = "" if ok is None else ("yes" if ok else "NO")
    P(f"{name:<44} {f(a, fmt):>12} {f(b, fmt):>12} {f(r, '.2f'):>6}  {target:<10} {okstr:<4}")


a1 = m("produce-acks1", "runneld", "records_per_s")
b1 = m("produce-acks1", "mock", "records_per_s")
r = ratio(a1, b1)
line(f"produce acks=1 {size} B 1 part (rec/s) vs mock", a1, b1, ",.0f", r, ">= 0.8", r is not None and r >= 0.8)
aa = m("produce-acksall", "runneld", "records_per_s")
r = ratio(aa, a1)
line("produce acks=all durable vs runneld acks=1", aa, a1, ",.0f", r, ">= 0.7", r is not None and r >= 0.7)
line("  (mock acks=all, for reference)", None, m("produce-acksall", "mock", "records_per_s"), ",.0f")
ac = m("consume", "runneld", "records_per_s")
bc = m("consume", "mock", "records_per_s")
r = ratio(ac, bc)
line("consume from page cache (rec/s) vs mock", ac, bc, ",.0f", r, ">= 0.8", r is not None and r >= 0.8)
case = "produce-1k-8p-2prod"
ak = m(case, "runneld", "mb_per_s")
bk = m(case, "mock", "mb_per_s")
line("1 KiB x 8 parts x 2 producers (MB/s) vs mock", ak, bk, ",.1f", ratio(ak, bk))
ag, bg = cpu_per_gb(case, "runneld"), cpu_per_gb(case, "mock")
line("  broker cpu s per GB ingested", ag, bg, ".3f", ratio(ag, bg), "report")
case = "latency-20k-acksall"
for what, key in (("produce", "ack_latency_ms"), ("end-to-end", "e2e_latency_ms")):
    for q in ("p50", "p99", "p99_9", "max"):
        a, b = m(case, "runneld", key, q), m(case, "mock", key, q)
        tgt, ok = "", None
        if q == "p99":
            lim = 2.0 if what == "produce" else 3.0
            tgt, ok = f"<= {lim:g} ms", a is not None and a <= lim
        line(f"latency {lat_rate}/s acks=all {what} {q.replace('_', '.')} (ms)", a, b, ".2f", ratio(a, b), tgt, ok)

# ---- scale
sc = {}
if os.path.exists(scale_txt):
    for ln in open(scale_txt):
        k, _, v = ln.strip().partition(" ")
        sc[k] = v
runs = []
if os.path.exists(scale_jsonl):
    for ln in open(scale_jsonl):
        try:
            runs.append(json.loads(ln))
        except ValueError:
            pass
if sc:
    ok = sum(d.get("ok", 0) for d in runs)
    failed = sum(d.get("failed", 0) for d in runs)
    errs = [d for d in runs if d.get("error")]
    tp = None
    if runs:
        span = max(d["end_unix_s"] for d in runs) - min(d["start_unix_s"] for d in runs)
        tp = ok / span if span > 0 else None
    nparts = int(s_topics) * int(s_parts)
    nprod = int(s_topics) * int(s_prod)

    def mb(k):
        v = sc.get(k)
        try:
            return int(v) / 1024
        except (TypeError, ValueError):
            return None
    P("")
    P(f"scale: {nparts:,} partitions ({s_topics} topics x {s_parts}), {nprod:,} producers "
      f"({s_topics} processes x {s_prod}, one rd_kafka_t each), {s_idle} idle connections")
    P(f"  creating the partitions took {sc.get('create_s', '-')} s")
    P(f"  throughput {f(tp, ',.0f')} records/s ({f(tp and tp * size / 1048576, '.1f')} MB/s), "
      f"{ok:,} records acked, {failed} failed, {len(runs)}/{s_topics} processes reported"
      + (f", {len(errs)} with errors" if errs else ""))
    bcpu = sc.get("broker_cpu_s")
    P(f"  broker cpu {bcpu} s for the run"
      + (f" = {float(bcpu) / ok * 1e6:.2f} us/record" if ok and bcpu not in (None, "nan") else ""))
    P(f"  broker RSS MB: at start {f(mb('rss_before_kb'), '.1f')}, with the partitions {f(mb('rss_partitions_kb'), '.1f')}, "
      f"+ idle connections {f(mb('rss_idle_kb'), '.1f')}, peak in the run {f(mb('rss_peak_kb'), '.1f')}, "
      f"after {f(mb('rss_after_kb'), '.1f')}")
    P(f"  idle connections still open after the run: {sc.get('idle_alive', '-')}/{s_idle}")

# ---- detail
P("")
P("Per case and target (medians):")
hdr = (f"{'case':<22} {'target':<8} {'ok/runs':>7} {'rec/s':>10} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
       f"{'max ms':>8} {'client cpu':>10} {'broker cpu':>10}  broker cpu per run")
P(hdr)
P("-" * len(hdr))
for case in ["produce-acks1", "produce-acksall", "consume", "produce-1k-8p-2prod", "latency-20k-acksall"]:
    for target in ["runneld", "mock"]:
        runs_ = rows.get((case, target), [])
        if not runs_:
            continue
        g = good(case, target)
        ccpu = med([(d.get("cpu_s") or 0) - (d.get("mock_cpu_s") or 0) for d in g])
        scpu_runs = [server_cpu(d, target) for d in runs_]
        scpu = med([server_cpu(d, target) for d in g])
        per = " ".join(f(s, ".2f") for s in scpu_runs)
        P(f"{case:<22} {target:<8} {len(g):>3}/{len(runs_):<3} {f(m(case, target, 'records_per_s'), ',.0f'):>10} "
          f"{f(m(case, target, 'mb_per_s'), '.1f'):>8} {f(m(case, target, 'ack_latency_ms', 'p50'), '.2f'):>8} "
          f"{f(m(case, target, 'ack_latency_ms', 'p99'), '.2f'):>8} {f(m(case, target, 'ack_latency_ms', 'max'), '.2f'):>8} "
          f"{f(ccpu, '.2f'):>10} {f(scpu, '.2f'):>10}  {per}")

errs = [(c, t, d) for (c, t), rr in rows.items() for d in rr if d["rc"] != 0 or d.get("error")]
if errs:
    P("")
    P("FAILED RUNS:")
    for c, t, d in errs:
        P(f"  {c} {t}: exit {d['rc']}: {d.get('error')}")
print("\n".join(out))
