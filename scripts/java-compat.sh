#!/usr/bin/env bash
# Apache RocketMQ 5.3.x (Java, from Maven Central) side of ferrimq's store compatibility.
#
#   scripts/java-compat.sh classpath
#       Resolve the RocketMQ artifacts (cached in ~/.m2 as Maven does), compile e2e/java, print the
#       classpath file.
#   scripts/java-compat.sh scenario-classpath 4.9|5.3
#       Resolve that RocketMQ client + tools version (e2e/java/client-<v>/pom.xml), compile the shared
#       client scenarios (e2e/java/scenarios) against it, print the classpath (broker/cli/tests/compat_*).
#   scripts/java-compat.sh fixture
#       Run the Java namesrv + broker on a fresh store with small file sizes, write the fixture messages
#       (WriteFixture), stop the broker cleanly and copy the store + manifest + broker.conf into
#       broker/store/tests/fixtures/java-5.3-store/.
#   scripts/java-compat.sh serve <store-dir> <out.jsonl>
#       Serve a COPY of an existing store (e.g. written by ferrimq) with the Java broker and read every
#       message of its topics with the official consumer (ReadStore) into <out.jsonl>.
#
# Settings (environment, defaults in brackets):
#   JC_NAMESRV_PORT, JC_BROKER_PORT: `fixture` uses 19876 / 20911 (the port is part of every record's
#     STOREHOST); `serve` picks a free random pair in 21000-24999 unless both are set. The broker also
#     binds PORT+1 (HA) and PORT-2 ("vip" channel).
#   JC_COMMITLOG_SIZE [65536]  JC_CQ_SIZE [1200 = 60 units]  JC_HASH_SLOTS [64]  JC_INDEX_NUM [256]
#     (for `serve`, commit-log and ConsumeQueue sizes are read from the store's files when unset)
#   JC_TOPICS  (serve) comma-separated topics to read; default: every non-system topic directory
#     under <store-dir>/consumequeue
#   JC_CREATE_TOPICS=1  (serve) declare each topic through the client API before reading, with as many
#     queues as <store-dir>/consumequeue/<topic>/ has; for stores whose config/topics.json lacks them
#     (without it a topic missing from config/topics.json fails: the Java broker only routes known topics)
#   JC_KEEP_WORK=1  keep the temporary work dir (logs, store copy) for debugging
# All traffic stays on 127.0.0.1. Every JVM this script starts is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POM="$ROOT/e2e/java/pom.xml"
CP_FILE="$ROOT/e2e/java/target/classpath.txt"
FIXTURE_DIR="$ROOT/broker/store/tests/fixtures/java-5.3-store"
NAMESRV_PORT=${JC_NAMESRV_PORT:-}
BROKER_PORT=${JC_BROKER_PORT:-}
BROKER_NAME=ferrimq-compat-broker
JVM_OPTS=(-XX:+UseSerialGC -XX:MaxDirectMemorySize=256m -Drocketmq.client.logUseSlf4j=false)
WORK=""
PIDS=()

die() { echo "java-compat: $*" >&2; exit 1; }
log() { echo "java-compat: $*" >&2; }

require_tools() {
  command -v java >/dev/null || die "java not found (need Java 17+: apt-get install openjdk-17-jdk-headless)"
  command -v mvn >/dev/null || die "mvn not found (need Maven 3: apt-get install maven)"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [[ -n $v && $v -ge 17 ]] || die "Java 17 or newer required, found: $(java -version 2>&1 | head -1)"
}

# Resolve artifacts + compile; writes CP_FILE and prints the full classpath on stdout.
classpath() {
  require_tools
  local mvn_log
  mvn_log=$(mktemp /tmp/java-compat-mvn.XXXXXX)
  if ! mvn -B -Dstyle.color=never -f "$POM" compile dependency:build-classpath \
    -Dmdep.outputFile="$CP_FILE" >"$mvn_log" 2>&1; then
    grep -E 'ERROR|BUILD' "$mvn_log" | head -n 30 >&2
    rm -f "$mvn_log"
    die "maven could not resolve/compile $POM (network to Maven Central?)"
  fi
  rm -f "$mvn_log"
  [[ -s $CP_FILE ]] || die "maven wrote no classpath to $CP_FILE"
  echo "$ROOT/e2e/java/target/classes:$(cat "$CP_FILE")"
}

# Same as classpath, for the client scenario module of one RocketMQ version (4.9 or 5.3).
scenario_classpath() { # version
  [[ ${1:-} == 4.9 || ${1:-} == 5.3 ]] || die "usage: $0 scenario-classpath 4.9|5.3"
  POM="$ROOT/e2e/java/client-$1/pom.xml"
  CP_FILE="$ROOT/e2e/java/client-$1/target/classpath.txt"
  classpath | sed "s#^$ROOT/e2e/java/target/classes:#$ROOT/e2e/java/client-$1/target/classes:#"
}

# --- process management -------------------------------------------------------------------------

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_exit "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $rc -ne 0 || ${JC_KEEP_WORK:-0} == 1 ]]; then
      log "work dir kept: $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

wait_exit() { # pid timeout-seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_logs() {
  local f
  for f in "$WORK/namesrv.out" "$WORK/broker.out" "$WORK/home/logs/rocketmqlogs/broker.log" \
    "$WORK/home/logs/rocketmqlogs/store.log" "$WORK/home/logs/rocketmqlogs/namesrv.log"; do
    [[ -s $f ]] || continue
    echo "----- tail of $f" >&2
    tail -n 40 "$f" >&2
  done
}

fail() { show_logs; die "$*"; }

wait_port() { # port pid what
  local i
  for ((i = 0; i < 1200; i++)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || fail "$3 exited before listening on 127.0.0.1:$1"
    sleep 0.1
  done
  fail "$3 did not listen on 127.0.0.1:$1 within 120 s"
}

start_jvm() { # name heap main-class args...
  local name=$1 heap=$2 main=$3
  shift 3
  ROCKETMQ_HOME="$WORK/home" java "${JVM_OPTS[@]}" -Xms64m "-Xmx$heap" -Duser.home="$WORK/home" \
    -cp "$CP" "$main" "$@" >"$WORK/$name.out" 2>&1 &
  PIDS+=("$!")
  LAST_PID=$!
}

# --- broker lifecycle ---------------------------------------------------------------------------

# write_conf store-root commitlog-size cq-size hash-slots index-num
write_conf() {
  cat >"$WORK/broker.conf" <<EOF
brokerClusterName=FerrimqCompatCluster
brokerName=$BROKER_NAME
brokerId=0
brokerRole=ASYNC_MASTER
brokerIP1=127.0.0.1
listenPort=$BROKER_PORT
bindAddress=127.0.0.1
haListenPort=$((BROKER_PORT + 1))
namesrvAddr=127.0.0.1:$NAMESRV_PORT
storePathRootDir=$1
storePathCommitLog=$1/commitlog
mappedFileSizeCommitLog=$2
mappedFileSizeConsumeQueue=$3
maxHashSlotNum=$4
maxIndexNum=$5
flushDiskType=SYNC_FLUSH
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
timerWheelEnable=false
enableConsumeQueueExt=false
deleteWhen=04
fileReservedTime=87600
diskMaxUsedSpaceRatio=95
EOF
}

ports_free() { # namesrv-port broker-port
  local p
  for p in "$1" "$2" $(($2 + 1)) $(($2 - 2)); do
    port_open "$p" && return 1
  done
  return 0
}

# Fixed ports must be free; otherwise pick a random free pair (concurrent runs do not collide).
choose_ports() { # default-namesrv default-broker ("" = random)
  NAMESRV_PORT=${NAMESRV_PORT:-$1}
  BROKER_PORT=${BROKER_PORT:-$2}
  if [[ -n $NAMESRV_PORT && -n $BROKER_PORT ]]; then
    ports_free "$NAMESRV_PORT" "$BROKER_PORT" || die "port $NAMESRV_PORT, $BROKER_PORT, \
$((BROKER_PORT + 1)) or $((BROKER_PORT - 2)) on 127.0.0.1 is in use (set JC_NAMESRV_PORT / JC_BROKER_PORT)"
    return
  fi
  local i base
  for ((i = 0; i < 50; i++)); do
    base=$((21000 + RANDOM % 400 * 10))
    if ports_free "$base" $((base + 5)); then
      NAMESRV_PORT=$base BROKER_PORT=$((base + 5))
      return
    fi
  done
  die "found no free ports in 21000-24999 on 127.0.0.1"
}

start_cluster() {
  mkdir -p "$WORK/home"
  printf 'listenPort=%s\nbindAddress=127.0.0.1\n' "$NAMESRV_PORT" >"$WORK/namesrv.conf"
  start_jvm namesrv 256m org.apache.rocketmq.namesrv.NamesrvStartup -c "$WORK/namesrv.conf"
  NAMESRV_PID=$LAST_PID
  wait_port "$NAMESRV_PORT" "$NAMESRV_PID" "name server"
  start_jvm broker 512m org.apache.rocketmq.broker.BrokerStartup -c "$WORK/broker.conf"
  BROKER_PID=$LAST_PID
  wait_port "$BROKER_PORT" "$BROKER_PID" "broker"
  log "namesrv pid $NAMESRV_PID on :$NAMESRV_PORT, broker pid $BROKER_PID on :$BROKER_PORT"
}

# Clean shutdown: SIGTERM runs the broker's shutdown hook (flush, checkpoint, abort file removed).
stop_broker() { # store-root
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  wait_exit "$BROKER_PID" 60 || fail "broker did not stop within 60 s after SIGTERM"
  [[ ! -e $1/abort ]] || fail "broker left $1/abort behind: it did not shut down cleanly"
}

run_client() { # main-class args...   (killed after JC_CLIENT_TIMEOUT seconds, default 600)
  timeout "${JC_CLIENT_TIMEOUT:-600}" java "${JVM_OPTS[@]}" -Xms64m -Xmx256m \
    -Duser.home="$WORK/home" -cp "$CP" "$@" >"$WORK/client.out" 2>&1 || {
    echo "----- client output" >&2
    tail -n 60 "$WORK/client.out" >&2
    fail "$1 failed"
  }
  grep -E '^(WriteFixture|ReadStore):' "$WORK/client.out" >&2 || true
}

# --- subcommands --------------------------------------------------------------------------------

fixture() {
  local cl=${JC_COMMITLOG_SIZE:-65536} cq=${JC_CQ_SIZE:-1200}
  local slots=${JC_HASH_SLOTS:-64} num=${JC_INDEX_NUM:-256}
  CP=$(classpath)
  WORK=$(mktemp -d /tmp/java-compat.XXXXXX)
  trap cleanup EXIT INT TERM
  local store="$WORK/store"
  choose_ports 19876 20911
  write_conf "$store" "$cl" "$cq" "$slots" "$num"
  start_cluster
  run_client io.ferrimq.compat.WriteFixture --namesrv "127.0.0.1:$NAMESRV_PORT" --broker "$BROKER_NAME" \
    --store-dir "$store" --commitlog-size "$cl" --out "$WORK/manifest.jsonl"
  stop_broker "$store"
  copy_fixture "$store"
  log "fixture written to $FIXTURE_DIR ($(du -sh "$FIXTURE_DIR" | cut -f1))"
}

copy_fixture() { # store-root
  local store=$1
  mkdir -p "$FIXTURE_DIR"
  find "$FIXTURE_DIR" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
  cp -r "$store/commitlog" "$store/consumequeue" "$store/index" "$store/checkpoint" "$FIXTURE_DIR/"
  mkdir -p "$FIXTURE_DIR/config"
  cp "$store"/config/*.json "$FIXTURE_DIR/config/"
  cp "$WORK/manifest.jsonl" "$FIXTURE_DIR/manifest.jsonl"
  sed "s#$store#@STORE@#g" "$WORK/broker.conf" >"$FIXTURE_DIR/broker.conf"
}

file_size_of() { # dir-with-files -> size of the first regular file found
  local f
  f=$(find "$1" -type f | sort | head -1)
  [[ -n $f ]] || return 1
  stat -c %s "$f"
}

default_topics() { # store-root
  find "$1/consumequeue" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort \
    | grep -v -E '^(SCHEDULE_TOPIC_XXXX|RMQ_SYS_|rmq_sys_|%RETRY%|%DLQ%|TBW102)' \
    | grep -v -E '^(BenchmarkTest|SELF_TEST_TOPIC|OFFSET_MOVED_EVENT)$' \
    | paste -sd, -
}

topic_queue_spec() { # store-root topics-csv -> T1:N1,T2:N2 (N = highest queue id directory + 1)
  local t max spec=()
  IFS=, read -ra ts <<<"$2"
  for t in "${ts[@]}"; do
    max=$(find "$1/consumequeue/$t" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null \
      | sort -n | tail -1)
    [[ -n $max ]] || die "cannot count queues of $t: no $1/consumequeue/$t/<queueId>"
    spec+=("$t:$((max + 1))")
  done
  (IFS=,; echo "${spec[*]}")
}

serve() { # store-dir out.jsonl
  [[ $# -eq 2 ]] || die "usage: $0 serve <store-dir> <out.jsonl>"
  local src=$1 out=$2
  [[ -d $src/commitlog ]] || die "$src/commitlog does not exist: not a store directory"
  local cl cq
  cl=${JC_COMMITLOG_SIZE:-$(file_size_of "$src/commitlog")} || die "$src/commitlog has no files"
  cq=${JC_CQ_SIZE:-$(file_size_of "$src/consumequeue" || echo 6000000)}
  local topics=${JC_TOPICS:-}
  [[ -n $topics ]] || topics=$(default_topics "$src" || true)
  [[ -n $topics ]] || die "no topics to read (no $src/consumequeue/<topic>; set JC_TOPICS)"
  CP=$(classpath)
  WORK=$(mktemp -d /tmp/java-compat.XXXXXX)
  trap cleanup EXIT INT TERM
  local store="$WORK/store"
  cp -r "$src" "$store"
  rm -f "$store/lock"
  choose_ports "" ""
  write_conf "$store" "$cl" "$cq" "${JC_HASH_SLOTS:-64}" "${JC_INDEX_NUM:-256}"
  log "serving a copy of $src (commitlog file $cl B, consumequeue file $cq B), topics $topics"
  local extra=()
  [[ ${JC_CREATE_TOPICS:-0} != 1 ]] || extra=(--create-topics "$(topic_queue_spec "$src" "$topics")")
  start_cluster
  run_client io.ferrimq.compat.ReadStore --namesrv "127.0.0.1:$NAMESRV_PORT" --topics "$topics" \
    --out "$WORK/read.jsonl" "${extra[@]}"
  stop_broker "$store"
  cp "$WORK/read.jsonl" "$out"
}

case "${1:-}" in
  classpath) classpath ;;
  scenario-classpath) scenario_classpath "${2:-}" ;;
  fixture) fixture ;;
  serve) shift; serve "$@" ;;
  *) die "usage: $0 classpath | scenario-classpath 4.9|5.3 | fixture | serve <store-dir> <out.jsonl>" ;;
esac
