#!/usr/bin/env bash
# One ferrimq-only load run for A/B comparisons of two builds (the Java comparison is
# scripts/perf-compare.sh): starts `ferrimq namesrv` + `ferrimq broker` on fresh directories,
# drives them with `ferrimq bench produce` and prints msgs/s, send p99 and the CPU microseconds
# per message of the broker and of the load generator (from /proc/PID/stat over the run).
#
#   scripts/bench-broker.sh LABEL [ASYNC_FLUSH|SYNC_FLUSH]
#
# Environment: BIN [target/release/ferrimq] DUR [15] (seconds measured after a 3 s warm-up)
#   PRODUCERS [64] MODE [sync|async|oneway] EXTRA (more `bench produce` flags, e.g.
#   "--batch 32" or "--topics 1000 --queues 4"). Ports 49876 (NameServer) and 50911-50912.
# Alternate two builds, e.g.
#   for i in 1 2 3; do for b in old new; do BIN=/tmp/ferrimq-$b scripts/bench-broker.sh $b; done; done
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LABEL=${1:?usage: bench-broker.sh LABEL [ASYNC_FLUSH|SYNC_FLUSH]}
FLUSH=${2:-ASYNC_FLUSH}
BIN=${BIN:-$ROOT/target/release/ferrimq}
DUR=${DUR:-15}
DUR=${DUR%s}
((DUR >= 4)) || { echo "DUR must be at least 4 seconds" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  ((${#PIDS[@]})) && kill "${PIDS[@]}" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/store"
cat >"$WORK/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=bench-broker
brokerId=0
brokerRole=ASYNC_MASTER
brokerIP1=127.0.0.1
listenPort=50911
haListenPort=50912
namesrvAddr=127.0.0.1:49876
storePathRootDir=$WORK/store
flushDiskType=$FLUSH
autoCreateTopicEnable=true
CONF
"$BIN" namesrv --listen-port 49876 --kv-config-path "$WORK/kv.json" >"$WORK/namesrv.log" 2>&1 &
PIDS+=($!)
"$BIN" broker -c "$WORK/broker.conf" >"$WORK/broker.log" 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
sleep 1.5

# shellcheck disable=SC2086 # EXTRA is a list of flags
"$BIN" bench produce --namesrv 127.0.0.1:49876 --topic BenchAB --producers "${PRODUCERS:-64}" \
  --size 1024 --mode "${MODE:-sync}" --duration "${DUR}s" --warmup 3s --quiet \
  --json "$WORK/report.json" ${EXTRA:-} >"$WORK/bench.log" 2>&1 &
LOAD=$!
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 4
b0=$(cpu "$BROKER") l0=$(cpu "$LOAD")
sleep $((DUR - 2))
b1=$(cpu "$BROKER") l1=$(cpu "$LOAD")
wait "$LOAD" || { cat "$WORK/bench.log" >&2; exit 1; }

python3 - "$LABEL" "$WORK/report.json" "$b0" "$b1" "$l0" "$l1" $((DUR - 2)) <<'PY'
import json, os, sys
label, report = sys.argv[1], sys.argv[2]
b0, b1, l0, l1, secs = map(int, sys.argv[3:8])
m = json.load(open(report))["measured"]
hz = os.sysconf("SC_CLK_TCK")
msgs = max(m["msgs_per_s"] * secs, 1)
print(f"{label}: {m['msgs_per_s']:.0f} msgs/s  p99 {m['send_latency']['p99_ms']:.2f} ms  "
      f"broker {(b1 - b0) / hz * 1e6 / msgs:.1f} us/msg, load {(l1 - l0) / hz * 1e6 / msgs:.1f} us/msg")
PY
