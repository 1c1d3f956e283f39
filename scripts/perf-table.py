#!/usr/bin/env python3
"""Turns scripts/perf-compare.sh runs (runs.jsonl) into the ferrimq / Java ratio table.

usage: perf-table.py runs.jsonl fio-bytes-per-s machine-description results.json
Prints a Markdown table on stdout and writes every figure to results.json. Each figure is the
median over rounds; a ratio is ferrimq / Java (throughput: higher is better; latency, memory and
start-up: lower is better).
"""
import json
import statistics
import sys


def load(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    return [r for r in runs if not r.get("unavailable")]


def produce_metrics(report):
    m = report.get("measured") or report.get("produce", {}).get("measured")
    if m is None:
        return {}
    return {"msgs_per_s": m["msgs_per_s"], "mb_per_s": m["mb_per_s"],
            "p99_ms": m["send_latency"]["p99_ms"], "failed": m["failed"]}


def metrics(run):
    report = run["report"]
    if "error" in report:
        return {}
    if run["workload"] == "javacli":
        return {"msgs_per_s": report["msgs_per_s"], "mb_per_s": report["mb_per_s"],
                "p99_ms": report["p99_us"] / 1000.0, "failed": report["errors"]}
    if run["workload"] == "pushe2e":
        return {"e2e_p99_ms": report["e2e_p99_us"] / 1000.0, "missing": report["missing"],
                "failed": report["failed"]}
    out = produce_metrics(report)
    if run["workload"] == "e2e":
        out["e2e_p99_ms"] = report["consume"]["e2e_latency"]["p99_ms"]
        out["missing"] = report["counts"].get("missing")
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def figure(runs, impl, workload, key):
    return median([metrics(r).get(key) for r in runs
                   if r["impl"] == impl and r["workload"] == workload])


def run_figure(runs, impl, key, workloads=None):
    return median([r.get(key) for r in runs if r["impl"] == impl
                   and (workloads is None or r["workload"] in workloads)])


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v:.2f}{unit}"


def ratio(a, b):
    return None if a in (None, 0) or b in (None, 0) else a / b


def main():
    runs = load(sys.argv[1])
    fio = float(sys.argv[2])
    machine = sys.argv[3]
    rows = []

    def add(name, f, j, target, unit=""):
        rows.append({"figure": name, "ferrimq": f, "java": j, "ratio": ratio(f, j),
                     "target": target, "unit": unit})

    add("throughput ASYNC_FLUSH, 64 sync producers, 1 KB (msgs/s)",
        figure(runs, "ferrimq", "async", "msgs_per_s"), figure(runs, "java", "async", "msgs_per_s"), ">= 2")
    add("throughput SYNC_FLUSH (msgs/s)",
        figure(runs, "ferrimq", "sync", "msgs_per_s"), figure(runs, "java", "sync", "msgs_per_s"), ">= 2")
    add("throughput SYNC_MASTER + slave (msgs/s)",
        figure(runs, "ferrimq", "ha", "msgs_per_s"), figure(runs, "java", "ha", "msgs_per_s"), "")
    add("throughput, official Java client as load (msgs/s)",
        figure(runs, "ferrimq", "javacli", "msgs_per_s"), figure(runs, "java", "javacli", "msgs_per_s"), ">= 2")
    add("p99 send latency at a fixed rate (ms)",
        figure(runs, "ferrimq", "rate", "p99_ms"), figure(runs, "java", "rate", "p99_ms"), "<= 0.5")
    add("p99 send latency ASYNC_FLUSH, saturated (ms)",
        figure(runs, "ferrimq", "async", "p99_ms"), figure(runs, "java", "async", "p99_ms"), "")
    add("end-to-end p99, long-poll consumer (ms)",
        figure(runs, "ferrimq", "e2e", "e2e_p99_ms"), figure(runs, "java", "e2e", "e2e_p99_ms"), "")
    add("end-to-end p99, official Java push consumer (ms)",
        figure(runs, "ferrimq", "pushe2e", "e2e_p99_ms"), figure(runs, "java", "pushe2e", "e2e_p99_ms"), "")
    add("throughput, 1,000 topics (msgs/s)",
        figure(runs, "ferrimq", "topics", "msgs_per_s"), figure(runs, "java", "topics", "msgs_per_s"), "")
    add("batched produce 32 x 1 KB (MB/s)",
        figure(runs, "ferrimq", "batch", "mb_per_s"), figure(runs, "java", "batch", "mb_per_s"), "")
    add("peak resident memory under load, VmRSS (MiB)",
        kib_to_mib(run_figure(runs, "ferrimq", "peak_rss_kb", ["async"])),
        kib_to_mib(run_figure(runs, "java", "peak_rss_kb", ["async"])), "<= 0.1")
    add("peak anonymous memory under load, RssAnon (MiB)",
        kib_to_mib(run_figure(runs, "ferrimq", "peak_anon_kb", ["async"])),
        kib_to_mib(run_figure(runs, "java", "peak_anon_kb", ["async"])), "<= 0.1")
    add("broker spawn to first accepted send (ms)",
        run_figure(runs, "ferrimq", "first_send_ms"), run_figure(runs, "java", "first_send_ms"),
        "ferrimq < 100 ms")

    own = {}
    for impl in ("ferrimq", "java"):
        one = figure(runs, impl, "async", "msgs_per_s")
        many = figure(runs, impl, "topics", "msgs_per_s")
        batch = figure(runs, impl, "batch", "mb_per_s")
        own[impl] = {"topics_1000_over_1": ratio(many, one),
                     "batch_share_of_fio": None if batch is None else batch * 1e6 / fio}

    print(f"Machine: {machine}; fio page-cache write bandwidth {fio / 1e6:,.0f} MB/s\n")
    print("| figure | ferrimq | Java 5.3.3 | ferrimq / Java | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {fmt(r['ferrimq'])} | {fmt(r['java'])} | {fmt(r['ratio'])} | {r['target']} |")
    print()
    for impl, o in own.items():
        print(f"- {impl}: 1,000 topics / 1 topic = {fmt(o['topics_1000_over_1'])} (target >= 0.9); "
              f"batched produce = {fmt(None if o['batch_share_of_fio'] is None else 100 * o['batch_share_of_fio'])}% "
              f"of fio (target >= 50%)")
    json.dump({"machine": machine, "fio_bytes_per_s": fio, "rows": rows, "own": own, "runs": runs},
              open(sys.argv[4], "w"), indent=2)


def kib_to_mib(v):
    return None if v is None else v / 1024.0


if __name__ == "__main__":
    main()
