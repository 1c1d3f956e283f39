#!/usr/bin/env bash
# SYNC_MASTER vs ASYNC_MASTER send throughput and latency with a slave attached: for each role,
# starts a NameServer, a master and a slave (`ferrimq` processes on loopback), runs
# `ferrimq bench produce` (64 synchronous producers, 1 KiB bodies by default), checks the slave
# stayed attached and caught up, and prints one summary line per role plus the SYNC/ASYNC ratio.
#
# Usage: scripts/ha-bench.sh
# Environment:
#   FERRIMQ_BIN   the binary (default: $CARGO_TARGET_DIR/release/ferrimq, built if missing)
#   PRODUCERS     concurrent producers (default 64)      SIZE      body bytes (default 1024)
#   DURATION      measured duration (default 20s)        WARMUP    warm-up (default 5s)
#   FLUSH         flushDiskType of both brokers (default ASYNC_FLUSH)
#   OUT           directory for logs and JSON reports (default: a temp dir; the stores are
#                 deleted after each role)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bin="${FERRIMQ_BIN:-$target/release/ferrimq}"
if [[ ! -x "$bin" ]]; then
    cargo build --release -p ferrimq-cli
fi
producers="${PRODUCERS:-64}" size="${SIZE:-1024}" duration="${DURATION:-20s}" warmup="${WARMUP:-5s}"
flush="${FLUSH:-ASYNC_FLUSH}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 300); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened" >&2; return 1
}
conf() { # dir role id port haport namesrv extra
    cat > "$1/broker.conf" <<CONF
brokerClusterName=HaCluster
brokerName=ha-bench
brokerId=$3
brokerRole=$2
flushDiskType=$flush
brokerIP1=127.0.0.1
listenPort=$4
haListenPort=$5
namesrvAddr=$6
storePathRootDir=$1/store
autoCreateTopicEnable=true
registerNameServerPeriod=1000
$7
CONF
}
runtime_field() { # namesrv addr key
    "$bin" admin -n "$1" broker runtime --broker "$2" --json 2>/dev/null |
        python3 -c "import json,sys; print(json.load(sys.stdin).get('$3', ''))"
}

run_role() {
    local role=$1 dir="$out/$1"
    mkdir -p "$dir/master" "$dir/slave"
    local nsp mp mha sp sha
    nsp=$(free_port); mp=$(free_port); mha=$(free_port); sp=$(free_port); sha=$(free_port)
    local ns="127.0.0.1:$nsp"
    "$bin" namesrv --listen-port "$nsp" 2> "$dir/namesrv.log" & pids+=($!)
    wait_port "$nsp"
    conf "$dir/master" "$role" 0 "$mp" "$mha" "$ns" ""
    conf "$dir/slave" SLAVE 1 "$sp" "$sha" "$ns" "haMasterAddress=127.0.0.1:$mha"
    "$bin" broker -c "$dir/master/broker.conf" 2> "$dir/master.log" & pids+=($!)
    "$bin" broker -c "$dir/slave/broker.conf" 2> "$dir/slave.log" & pids+=($!)
    wait_port "$mp"; wait_port "$sp"
    for _ in $(seq 1 100); do
        [[ "$(runtime_field "$ns" "127.0.0.1:$mp" inSyncSlaveNums)" == "1" ]] && break
        sleep 0.2
    done
    "$bin" bench produce --namesrv "$ns" --cluster HaCluster --topic "HaBench$role" \
        --producers "$producers" --size "$size" --mode sync --duration "$duration" \
        --warmup "$warmup" --json "$dir/report.json" --quiet
    local attached lag
    attached=$(runtime_field "$ns" "127.0.0.1:$mp" inSyncSlaveNums)
    sleep 1
    lag=$(runtime_field "$ns" "127.0.0.1:$mp" slaveFallBehindMuch)
    python3 - "$role" "$dir/report.json" "$attached" "$lag" <<'PY'
import json, sys
role, path, attached, lag = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
m = json.load(open(path))["measured"]
l = m["send_latency"]
print(f"ha-bench {role}: {m['msgs_per_s']:.0f} msgs/s, acked {m['acknowledged']}, failed {m['failed']}, "
      f"latency p50 {l['p50_ms']:.2f} ms p99 {l['p99_ms']:.2f} ms max {l['max_ms']:.2f} ms, "
      f"slaves attached after run {attached}, slave lag 1 s after run {lag} bytes")
PY
    cleanup; pids=()
    # The stores hold GiB-sized preallocated CommitLog files: keep only logs and reports.
    rm -rf "$dir/master/store" "$dir/slave/store"
}

run_role ASYNC_MASTER | tee "$out/summary.txt"
run_role SYNC_MASTER | tee -a "$out/summary.txt"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
a = json.load(open(f"{d}/ASYNC_MASTER/report.json"))["measured"]["msgs_per_s"]
s = json.load(open(f"{d}/SYNC_MASTER/report.json"))["measured"]["msgs_per_s"]
print(f"ha-bench: SYNC_MASTER/ASYNC_MASTER throughput = {s / a:.2f} (target >= 0.5); reports in {d}")
PY
