#!/usr/bin/env python3
"""Checks scripts/perf-table.py on recorded runs: medians over rounds, ratios, n/a and own ratios.

Run by scripts/test.sh: python3 scripts/perf_table_test.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "perf-table.py")


def produce(msgs, mb, p99):
    return {"measured": {"msgs_per_s": msgs, "mb_per_s": mb, "failed": 0,
                         "send_latency": {"p99_ms": p99}}}


def push_e2e(p99_us):
    return {"tool": "java-push-consumer", "e2e_p50_us": 500, "e2e_p99_us": p99_us, "e2e_p999_us": 9000,
            "e2e_max_us": 9000, "measured": 20000, "sent": 25000, "acknowledged": 25000,
            "received": 25000, "failed": 0, "duplicates": 0, "missing": 0}


def run(impl, workload, rnd, report, rss=0, anon=0, first=None):
    return {"impl": impl, "workload": workload, "round": rnd, "first_send_ms": first,
            "peak_rss_kb": rss, "peak_anon_kb": anon, "report": report}


RUNS = [
    run("ferrimq", "async", 1, produce(30000, 30.0, 8.0), rss=102400, anon=20480, first=80.0),
    run("ferrimq", "async", 2, produce(40000, 40.0, 6.0), rss=102400, anon=20480, first=90.0),
    run("java", "async", 1, produce(10000, 10.0, 12.0), rss=1024000, anon=512000, first=4000.0),
    run("java", "async", 2, produce(10000, 10.0, 14.0), rss=1024000, anon=512000, first=4000.0),
    run("ferrimq", "topics", 1, produce(31500, 31.5, 9.0)),
    run("java", "topics", 1, produce(6000, 6.0, 20.0)),
    run("ferrimq", "batch", 1, produce(500000, 512.0, 40.0)),
    run("java", "javacli", 1, {"msgs_per_s": 5000, "mb_per_s": 5.0, "p99_us": 9000, "errors": 0}),
    run("ferrimq", "javacli", 1, {"error": "the load generator failed"}),
    run("ferrimq", "pushe2e", 1, push_e2e(1000)),
    run("ferrimq", "pushe2e", 2, push_e2e(3000)),
    run("java", "pushe2e", 1, push_e2e(6000)),
    {"impl": "java", "workload": "ha", "round": 1, "unavailable": True},
]


class PerfTableTest(unittest.TestCase):
    def table(self):
        with tempfile.TemporaryDirectory() as d:
            runs = os.path.join(d, "runs.jsonl")
            with open(runs, "w") as f:
                f.write("".join(json.dumps(r) + "\n" for r in RUNS))
            results = os.path.join(d, "results.json")
            out = subprocess.run([sys.executable, TABLE, runs, "1024000000", "test machine", results],
                                 check=True, capture_output=True, text=True).stdout
            with open(results) as f:
                return out, json.load(f)

    def test_rows_are_medians_and_ratios(self):
        out, results = self.table()
        rows = {r["figure"]: r for r in results["rows"]}
        asynch = rows["throughput ASYNC_FLUSH, 64 sync producers, 1 KB (msgs/s)"]
        self.assertEqual((asynch["ferrimq"], asynch["java"], asynch["ratio"]), (35000, 10000, 3.5))
        self.assertIn("| throughput ASYNC_FLUSH, 64 sync producers, 1 KB (msgs/s) | 35,000 | 10,000 | 3.50 | >= 2 |", out)
        p99 = rows["p99 send latency ASYNC_FLUSH, saturated (ms)"]
        self.assertEqual((p99["ferrimq"], p99["java"]), (7.0, 13.0))
        rss = rows["peak resident memory under load, VmRSS (MiB)"]
        self.assertEqual((rss["ferrimq"], rss["java"], rss["ratio"]), (100.0, 1000.0, 0.1))
        push = rows["end-to-end p99, official Java push consumer (ms)"]
        self.assertEqual((push["ferrimq"], push["java"]), (2.0, 6.0))
        self.assertAlmostEqual(push["ratio"], 1 / 3)
        first = rows["broker spawn to first accepted send (ms)"]
        self.assertEqual((first["ferrimq"], first["java"]), (85.0, 4000.0))

    def test_missing_or_failed_runs_print_na(self):
        out, results = self.table()
        rows = {r["figure"]: r for r in results["rows"]}
        javacli = rows["throughput, official Java client as load (msgs/s)"]
        self.assertEqual((javacli["ferrimq"], javacli["java"], javacli["ratio"]), (None, 5000, None))
        self.assertIn("| throughput SYNC_MASTER + slave (msgs/s) | n/a | n/a | n/a |  |", out)

    def test_own_ratios(self):
        out, results = self.table()
        self.assertAlmostEqual(results["own"]["ferrimq"]["topics_1000_over_1"], 0.9)
        self.assertAlmostEqual(results["own"]["ferrimq"]["batch_share_of_fio"], 0.5)
        self.assertIsNone(results["own"]["java"]["batch_share_of_fio"])
        self.assertIn("- ferrimq: 1,000 topics / 1 topic = 0.90 (target >= 0.9); batched produce = 50.00% of fio", out)


if __name__ == "__main__":
    unittest.main()
