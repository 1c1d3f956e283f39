#!/usr/bin/env bash
# Every delay level (1..18) with the official Java clients 4.9.8 and 5.3.3 against ferrimq.
#
#   scripts/delay-levels.sh
#
# Starts `ferrimq namesrv` + `ferrimq broker` on free loopback ports with an accelerated
# messageDelayLevel table (level N = N seconds by default), then runs the `delays` scenario of
# e2e/java/scenarios with each client: one message per level, each delivered once, on its real
# topic, no earlier than its delay and at most FERRIMQ_DELAY_TOLERANCE_MS late. CI runs levels
# 1-3 with the default table (broker/cli/tests/compat_features.rs); this script covers the rest.
#
# Settings (environment, defaults in brackets):
#   FERRIMQ_DELAY_TABLE        the messageDelayLevel table ["1s 2s 3s ... 18s"]
#   FERRIMQ_DELAY_TOLERANCE_MS lateness allowed per message [3000]
#   FERRIMQ_BIN                the ferrimq binary [$CARGO_TARGET_DIR/debug/ferrimq, built if missing]
#   FERRIMQ_KEEP_WORK=1        keep the work dir (logs, store)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${FERRIMQ_BIN:-$TARGET/debug/ferrimq}"
TABLE="${FERRIMQ_DELAY_TABLE:-$(seq -s ' ' 1 18 | sed 's/\([0-9]*\)/\1s/g')}"
TOLERANCE="${FERRIMQ_DELAY_TOLERANCE_MS:-3000}"
WORK=$(mktemp -d /tmp/ferrimq-delay-levels.XXXXXX)
PIDS=()

log() { echo "delay-levels: $*" >&2; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${FERRIMQ_KEEP_WORK:-}" == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "port $1 never opened; logs in $WORK"; FERRIMQ_KEEP_WORK=1; exit 1
}

if [[ ! -x "$BIN" ]]; then
  log "building $BIN"
  (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build -p ferrimq-cli --bin ferrimq >&2)
fi
levels=$(echo "$TABLE" | wc -w)
NAMESRV_PORT=$(free_port); BROKER_PORT=$(free_port); HA_PORT=$(free_port)
"$BIN" namesrv --listen-port "$NAMESRV_PORT" --kv-config-path "$WORK/kvConfig.json" 2>"$WORK/namesrv.log" &
PIDS+=($!)
wait_port "$NAMESRV_PORT"
cat >"$WORK/broker.conf" <<CONF
brokerClusterName=DelayCluster
brokerName=broker-delay
brokerId=0
brokerIP1=127.0.0.1
listenPort=$BROKER_PORT
haListenPort=$HA_PORT
namesrvAddr=127.0.0.1:$NAMESRV_PORT
storePathRootDir=$WORK/store
autoCreateTopicEnable=true
messageDelayLevel=$TABLE
CONF
"$BIN" broker -c "$WORK/broker.conf" 2>"$WORK/broker.log" &
PIDS+=($!)
wait_port "$BROKER_PORT"
log "broker on $BROKER_PORT, table: $TABLE"

status=0
for version in 4.9 5.3; do
  cp=$(bash "$ROOT/scripts/java-compat.sh" scenario-classpath "$version" | tail -1)
  topic="DelayLevels_${version/./}"
  out=$(timeout 600 java -XX:+UseSerialGC -Xmx256m -Drocketmq.client.logUseSlf4j=false \
      "-Duser.home=$WORK" "-Dferrimq.delay.table=$TABLE" "-Dferrimq.delay.levels=$(seq -s , 1 "$levels")" \
      -Dferrimq.delay.perLevel=1 "-Dferrimq.delay.toleranceMs=$TOLERANCE" \
      -cp "$cp" io.ferrimq.scenario.Scenario delays --namesrv "127.0.0.1:$NAMESRV_PORT" \
      --topic "$topic" --group "${topic}_group" --dir "$WORK" 2>"$WORK/java-$version.log") || true
  if grep -qx "SCENARIO delays OK $levels" <<<"$out"; then
    log "client $version: all $levels levels delivered on time"
  else
    log "client $version FAILED: $out"; tail -20 "$WORK/java-$version.log" >&2; status=1; FERRIMQ_KEEP_WORK=1
  fi
done
exit $status
