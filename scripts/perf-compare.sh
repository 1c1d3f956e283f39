#!/usr/bin/env bash
# Side-by-side performance of ferrimq and the Apache RocketMQ 5.3.3 Java broker on this machine.
#
#   scripts/perf-compare.sh [--quick] [--out DIR] [--only LIST]
#
# In one run: builds ferrimq (release), resolves the Java NameServer + broker from Maven Central
# (scripts/java-compat.sh classpath), measures the machine's page-cache write bandwidth with fio, then
# for every workload runs both brokers with equivalent broker.conf settings on fresh store
# directories, alternating which one goes first each round, and drives them with the same load:
# `ferrimq bench` (our generator) and, for the plain throughput workload, BenchProducer on the
# official Java client (e2e/java/src/main/java/io/ferrimq/compat/BenchProducer.java).
#
# Workloads (names for --only, comma-separated):
#   async     64 producers, sync sends of 1 KB, flushDiskType=ASYNC_FLUSH       -> msgs/s, p99
#   sync      the same with flushDiskType=SYNC_FLUSH                            -> msgs/s, p99
#   javacli   `async` driven by the official Java client instead of ours        -> msgs/s, p99
#   rate      ASYNC_FLUSH at a fixed rate (PC_RATE msgs/s), latency from intended send time -> p99
#   e2e       produce + long-poll consume at PC_E2E_RATE msgs/s                 -> end-to-end p99
#   pushe2e   the same with the official Java client: DefaultMQPushConsumer and producers in one
#             JVM (e2e/java/.../BenchPushE2e.java)                               -> end-to-end p99
#   topics    `async` spread over 1,000 topics (compare with `async` on 1 topic) -> msgs/s
#   batch     async batch sends of 32 x 1 KB, 8 producers                       -> MB/s vs fio
#   ha        SYNC_MASTER + a slave (both brokers), 64 producers                -> msgs/s, p99
# Always measured: resident memory of the broker process (peak VmRSS and RssAnon while loaded) and
# the time from spawning the broker to the first accepted send.
#
# Environment: PC_DURATION [20s] PC_WARMUP [5s] PC_ROUNDS [2] PC_RATE [5000] PC_E2E_RATE [1000]
#   PC_JAVA_HEAP [4g] (Java broker -Xms/-Xmx, G1 as RocketMQ's runbroker.sh; direct memory the same)
#   PC_KEEP=1 keeps the work directory (stores, logs, JSON reports).
# Output: a table of ratios ferrimq / Java on stdout, and DIR/results.json + DIR/table.md
# (DIR defaults to target/perf/<timestamp>). Everything stays on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
OUT=""
ONLY="async,sync,javacli,rate,e2e,pushe2e,topics,batch,ha"
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "perf-compare: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
DURATION=${PC_DURATION:-20s}
WARMUP=${PC_WARMUP:-5s}
ROUNDS=${PC_ROUNDS:-2}
if [[ $QUICK == 1 ]]; then DURATION=${PC_DURATION:-5s}; WARMUP=${PC_WARMUP:-2s}; ROUNDS=${PC_ROUNDS:-1}; fi
RATE=${PC_RATE:-5000}
E2E_RATE=${PC_E2E_RATE:-1000}
JAVA_HEAP=${PC_JAVA_HEAP:-4g}
OUT=${OUT:-$ROOT/target/perf/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/perf-compare.XXXXXX)
PIDS=()
FERRIMQ=${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrimq
NS_PORT=29876
BROKER_PORT=30911

log() { echo "perf-compare: $*" >&2; }
die() { log "$*"; exit 1; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${PC_KEEP:-0} == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid what
  local i
  for ((i = 0; i < 1200; i++)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || { tail -n 30 "$WORK"/*.out >&2 || true; die "$3 exited before listening on :$1"; }
    sleep 0.05
  done
  die "$3 did not listen on :$1 within 60 s"
}
now_ms() { date +%s%3N; }

# --- setup --------------------------------------------------------------------------------------

prepare() {
  log "building ferrimq (release)"
  (cd "$ROOT" && cargo build --release --locked --bin ferrimq >&2)
  log "resolving the Java broker and client (Maven Central)"
  CP=$(bash "$ROOT/scripts/java-compat.sh" classpath)
  command -v fio >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq fio >&2; }
  command -v python3 >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq python3 >&2; }
}

# Page-cache write bandwidth (buffered 1 MiB writes, no fsync), bytes/s.
fio_bandwidth() {
  local size=2g
  [[ $QUICK == 1 ]] && size=512m
  fio --name=pagecache --directory="$WORK" --rw=write --bs=1m --size=$size --ioengine=psync \
    --end_fsync=0 --output-format=json >"$WORK/fio.json"
  rm -f "$WORK"/pagecache*
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"])' \
    "$WORK/fio.json"
}

# broker.conf with RocketMQ keys, read by both brokers. Args: dir flush role [brokerId] [port] [extra]
write_conf() {
  local dir=$1 flush=$2 role=$3 id=${4:-0} port=${5:-$BROKER_PORT}
  mkdir -p "$dir/store"
  cat >"$dir/broker.conf" <<EOF
brokerClusterName=DefaultCluster
brokerName=perf-broker
brokerId=$id
brokerRole=$role
brokerIP1=127.0.0.1
listenPort=$port
haListenPort=$((port + 1))
namesrvAddr=127.0.0.1:$NS_PORT
storePathRootDir=$dir/store
storePathCommitLog=$dir/store/commitlog
flushDiskType=$flush
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
deleteWhen=04
fileReservedTime=48
diskMaxUsedSpaceRatio=95
EOF
  if [[ $role == SLAVE ]]; then echo "haMasterAddress=127.0.0.1:$((BROKER_PORT + 1))" >>"$dir/broker.conf"; fi
  # Java's timer wheel and its extra store are off: ferrimq has no counterpart.
  printf 'timerWheelEnable=false\nenableConsumeQueueExt=false\n' >"$dir/broker.conf.java"
}

start_namesrv() { # impl
  if [[ $1 == ferrimq ]]; then
    "$FERRIMQ" namesrv --listen-port "$NS_PORT" --kv-config-path "$WORK/ns/kv.json" >"$WORK/ns.out" 2>&1 &
  else
    mkdir -p "$WORK/home"
    printf 'listenPort=%s\n' "$NS_PORT" >"$WORK/namesrv.conf"
    ROCKETMQ_HOME="$WORK/home" java -server -Xms256m -Xmx256m -XX:+UseG1GC -Duser.home="$WORK/home" -cp "$CP" \
      org.apache.rocketmq.namesrv.NamesrvStartup -c "$WORK/namesrv.conf" >"$WORK/ns.out" 2>&1 &
  fi
  NS_PID=$!
  PIDS+=("$NS_PID")
  wait_port "$NS_PORT" "$NS_PID" "$1 name server"
}

start_broker() { # impl dir -> BROKER_PID; spawn time in SPAWN_MS
  local impl=$1 dir=$2
  SPAWN_MS=$(now_ms)
  if [[ $impl == ferrimq ]]; then
    "$FERRIMQ" broker -c "$dir/broker.conf" >"$dir/broker.out" 2>&1 &
  else
    cat "$dir/broker.conf" "$dir/broker.conf.java" >"$dir/broker-java.conf"
    ROCKETMQ_HOME="$WORK/home" java -server "-Xms$JAVA_HEAP" "-Xmx$JAVA_HEAP" -XX:+UseG1GC -XX:G1HeapRegionSize=16m \
      "-XX:MaxDirectMemorySize=$JAVA_HEAP" -Duser.home="$WORK/home" -cp "$CP" \
      org.apache.rocketmq.broker.BrokerStartup -c "$dir/broker-java.conf" >"$dir/broker.out" 2>&1 &
  fi
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
}

stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  PIDS=()
}

# Samples a process's memory every 500 ms into FILE until the process or the sampler is stopped.
sample_memory() { # pid file
  while kill -0 "$1" 2>/dev/null; do
    awk '/^VmRSS|^RssAnon/ {printf "%s %s ", $1, $2} END {print ""}' "/proc/$1/status" 2>/dev/null >>"$2" || true
    sleep 0.5
  done
}
peak_kb() { # file key
  awk -v k="$2:" '{for (i = 1; i < NF; i++) if ($i == k && $(i+1) > m) m = $(i+1)} END {print m + 0}' "$1"
}

# --- one measured run -----------------------------------------------------------------------------

# run_one impl workload round -> appends one JSON object to $OUT/runs.jsonl
run_one() {
  local impl=$1 wl=$2 round=$3
  local dir="$WORK/$impl-$wl-$round"
  local flush=ASYNC_FLUSH role=ASYNC_MASTER
  [[ $wl == sync ]] && flush=SYNC_FLUSH
  [[ $wl == ha ]] && role=SYNC_MASTER
  write_conf "$dir" "$flush" "$role"
  start_namesrv "$impl"
  start_broker "$impl" "$dir"
  local master_pid=$BROKER_PID spawn=$SPAWN_MS
  wait_port "$BROKER_PORT" "$master_pid" "$impl broker"
  if [[ $wl == ha ]]; then
    write_conf "$dir/slave" "$flush" SLAVE 1 $((BROKER_PORT + 100))
    start_broker "$impl" "$dir/slave"
    if ! wait_port_soft $((BROKER_PORT + 100)) "$BROKER_PID"; then
      log "$impl slave did not start: ha workload not available for $impl"
      stop_all
      echo "{\"impl\":\"$impl\",\"workload\":\"$wl\",\"round\":$round,\"unavailable\":true}" >>"$OUT/runs.jsonl"
      return
    fi
    sleep 3
  fi
  local first
  first=$("$FERRIMQ" bench first-send --namesrv "127.0.0.1:$NS_PORT" --topic PerfFirst \
    --since-ms "$spawn" --timeout 60s 2>>"$dir/bench.err") || first=null
  : >"$dir/mem.txt"
  sample_memory "$master_pid" "$dir/mem.txt" &
  local sampler=$!
  local report="$dir/report.json"
  run_load "$wl" "$report" "$dir"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  local rss anon
  rss=$(peak_kb "$dir/mem.txt" VmRSS)
  anon=$(peak_kb "$dir/mem.txt" RssAnon)
  stop_all
  # A run's store is gigabytes: drop it now, not at exit, or a full run fills the disk.
  [[ ${PC_KEEP:-0} == 1 ]] || rm -rf "$dir/store" "$dir/slave/store"
  python3 - "$impl" "$wl" "$round" "$first" "$rss" "$anon" "$report" >>"$OUT/runs.jsonl" <<'PY'
import json, sys
impl, wl, rnd, first, rss, anon, path = sys.argv[1:]
try:
    report = json.load(open(path))
except Exception as e:  # the load generator failed: keep the run, marked
    report = {"error": str(e)}
print(json.dumps({"impl": impl, "workload": wl, "round": int(rnd),
                  "first_send_ms": None if first == "null" else float(first),
                  "peak_rss_kb": int(rss), "peak_anon_kb": int(anon), "report": report}))
PY
  log "$impl $wl round $round done"
}

wait_port_soft() { # port pid -> 0 when listening, 1 when the process died or 30 s passed
  local i
  for ((i = 0; i < 600; i++)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

run_load() { # workload report dir
  local wl=$1 report=$2 dir=$3
  local ns="127.0.0.1:$NS_PORT"
  local common=(--namesrv "$ns" --duration "$DURATION" --warmup "$WARMUP" --json "$report" --quiet)
  case $wl in
    async|sync|ha) "$FERRIMQ" bench produce "${common[@]}" --topic PerfT --producers 64 --size 1024 --mode sync ;;
    rate) "$FERRIMQ" bench produce "${common[@]}" --topic PerfR --producers 64 --size 1024 --mode sync --rate "$RATE" ;;
    e2e) "$FERRIMQ" bench e2e "${common[@]}" --topic PerfE --producers 8 --size 1024 --rate "$E2E_RATE" ;;
    topics) "$FERRIMQ" bench produce "${common[@]}" --topic PerfMany --topics 1000 --queues 4 --producers 64 --size 1024 --mode sync ;;
    batch) "$FERRIMQ" bench produce "${common[@]}" --topic PerfB --producers 8 --size 1024 --batch 32 --mode async ;;
    javacli)
      "$FERRIMQ" bench produce --namesrv "$ns" --topic PerfJ --duration 1s --warmup 0s --producers 1 --quiet --json /dev/null
      java -Xms512m -Xmx512m -XX:+UseG1GC -Duser.home="$WORK/home" -cp "$CP" io.ferrimq.compat.BenchProducer \
        --namesrv "$ns" --topic PerfJ --threads 64 --size 1024 --seconds "${DURATION%s}" --warmup "${WARMUP%s}" \
        >"$dir/javacli.out"
      # The 5.3 client's shaded logback prints its status to stdout: the report is the JSON line.
      grep '^{' "$dir/javacli.out" | tail -n 1 >"$report" ;;
    pushe2e)
      "$FERRIMQ" bench produce --namesrv "$ns" --topic PerfP --duration 1s --warmup 0s --producers 1 --quiet --json /dev/null
      java -Xms512m -Xmx512m -XX:+UseG1GC -Duser.home="$WORK/home" -cp "$CP" io.ferrimq.compat.BenchPushE2e \
        --namesrv "$ns" --topic PerfP --producers 8 --size 1024 --rate "$E2E_RATE" \
        --seconds "${DURATION%s}" --warmup "${WARMUP%s}" >"$dir/pushe2e.out"
      grep '^{' "$dir/pushe2e.out" | tail -n 1 >"$report" ;;
    *) die "unknown workload $wl" ;;
  esac 2>>"$dir/bench.err" || log "load generator failed for $wl (see $dir/bench.err)"
}

# --- main -----------------------------------------------------------------------------------------

prepare
: >"$OUT/runs.jsonl"
log "fio: page-cache write bandwidth"
FIO_BPS=$(fio_bandwidth)
log "fio: $FIO_BPS bytes/s"
IFS=, read -ra WORKLOADS <<<"$ONLY"
for ((round = 1; round <= ROUNDS; round++)); do
  for wl in "${WORKLOADS[@]}"; do
    if ((round % 2 == 1)); then order=(ferrimq java); else order=(java ferrimq); fi
    for impl in "${order[@]}"; do run_one "$impl" "$wl" "$round"; done
  done
done
python3 "$ROOT/scripts/perf-table.py" "$OUT/runs.jsonl" "$FIO_BPS" "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB" \
  "$OUT/results.json" | tee "$OUT/table.md"
log "results in $OUT"
