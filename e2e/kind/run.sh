#!/usr/bin/env bash
# End-to-end test of the ferrimq operator on a kind cluster (machines with Docker).
#
#   e2e/kind/run.sh            create the cluster (or reuse it), build and load both images,
#                              helm install the operator, then run every scenario below
#   e2e/kind/run.sh cleanup    delete the kind cluster
#
# Scenarios (the same sample and the same topic shrink as operator/tests/topics_apiserver.rs and
# operator/tests/shrink_brokers.rs):
#   1. deploy/samples/brokercluster.yaml (image switched to the locally built one) becomes Ready;
#   2. produce 2000 messages to `audit` and consume exactly them (ids compared);
#   3. a consumer group reads `orders` throughout while it shrinks 8 -> 4 queues under
#      production; once the topic is Ready with read/write 4 that group must have got exactly
#      every id produced to `orders`;
#   4. kill the master of group 0 (no grace): the StatefulSet restarts it on its volume, the
#      cluster returns to Ready, and a new group reads exactly both `audit` batches;
#   5. scale broker groups 2 -> 1: the group drains (status.groupDrains) and its StatefulSets go.
#
# Environment:
#   KIND_CLUSTER   kind cluster name (default ferrimq-e2e)
#   NAMESPACE      namespace of the BrokerCluster (default ferrimq-e2e)
#   KEEP_CLUSTER=1 keep the kind cluster after the run (it is deleted on success otherwise)
#   SKIP_BUILD=1   reuse images already loaded into the cluster
#   TIMEOUT        seconds to wait for each state (default 600)
#
# Needs: docker, kind, kubectl, helm, and podman for scripts/images.sh (installed by it as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIND_CLUSTER=${KIND_CLUSTER:-ferrimq-e2e}
NAMESPACE=${NAMESPACE:-ferrimq-e2e}
TIMEOUT=${TIMEOUT:-600}
IMAGE_TAG=dev
BROKER_IMAGE="localhost/ferrimq:${IMAGE_TAG}"
OPERATOR_IMAGE="localhost/ferrimq-operator"
CLUSTER=demo
WORK=$(mktemp -d /tmp/ferrimq-kind.XXXXXX)
TOOL_SEQ=0

log() { printf 'kind-e2e: %s %b\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "FAILED: $*"
    diagnostics
    exit 1
}

diagnostics() {
    kubectl -n "$NAMESPACE" get brokercluster,statefulsets,pods,pvc -o wide >&2 || true
    kubectl -n "$NAMESPACE" get brokercluster "$CLUSTER" -o yaml >&2 || true
    kubectl -n ferrimq-system logs deploy/ferrimq-operator --tail=100 >&2 || true
}

cleanup_work() { rm -rf "$WORK"; }
trap cleanup_work EXIT

require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH"
    done
}

create_cluster() {
    if kind get clusters | grep -qx "$KIND_CLUSTER"; then
        log "reusing kind cluster $KIND_CLUSTER"
    else
        kind create cluster --name "$KIND_CLUSTER" --wait 120s
    fi
    kubectl config use-context "kind-$KIND_CLUSTER" >/dev/null
}

build_and_load() {
    if [[ ${SKIP_BUILD:-0} == 1 ]]; then
        log "SKIP_BUILD=1: using the images already in the cluster"
        return
    fi
    IMAGE_TAG=$IMAGE_TAG "$ROOT/scripts/images.sh" build
    local image archive
    for image in "ferrimq:${IMAGE_TAG}" "ferrimq-operator:${IMAGE_TAG}"; do
        archive="$WORK/${image%%:*}.tar"
        podman save --format docker-archive -o "$archive" "localhost/$image"
        kind load image-archive "$archive" --name "$KIND_CLUSTER"
    done
}

install_operator() {
    helm upgrade --install ferrimq-operator "$ROOT/charts/ferrimq-operator" \
        --namespace ferrimq-system --create-namespace \
        --set image.repository="$OPERATOR_IMAGE" --set image.tag="$IMAGE_TAG" \
        --set image.pullPolicy=Never --set drainGraceSeconds=40 --wait --timeout "${TIMEOUT}s"
    kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
}

apply_cluster() {
    # The shared sample, with the local image and sizes that fit on one kind node.
    sed -e "s#^  image: .*#  image: ${BROKER_IMAGE}#" \
        -e "s#^  imagePullPolicy: .*#  imagePullPolicy: Never#" \
        -e "s#size: 10Gi#size: 1Gi#" \
        "$ROOT/deploy/samples/brokercluster.yaml" >"$WORK/brokercluster.yaml"
    kubectl -n "$NAMESPACE" apply --server-side -f "$WORK/brokercluster.yaml"
}

# Waits until `kubectl get bc demo -o jsonpath=$1` prints $2.
wait_for() {
    local path=$1 want=$2 deadline=$((SECONDS + TIMEOUT)) got=""
    while ((SECONDS < deadline)); do
        got=$(kubectl -n "$NAMESPACE" get brokercluster "$CLUSTER" -o "jsonpath=$path" 2>/dev/null || true)
        [[ $got == "$want" ]] && return 0
        sleep 3
    done
    die "timed out waiting for $path == '$want' (last: '$got')"
}

namesrv_addr() {
    kubectl -n "$NAMESPACE" get brokercluster "$CLUSTER" -o jsonpath='{.status.nameServerAddresses}'
}

# Runs `ferrimq <args>` in a throw-away pod of the broker image; prints its stdout.
ferrimq_tool() {
    TOOL_SEQ=$((TOOL_SEQ + 1))
    kubectl -n "$NAMESPACE" run "ferrimq-tool-$TOOL_SEQ" --rm -i --quiet --restart=Never \
        --image="$BROKER_IMAGE" --image-pull-policy=Never \
        --env="NAMESRV_ADDR=$(namesrv_addr)" -- "$@"
}

# Message ids of `ferrimq produce|consume --json` output, sorted.
ids() { grep -o '"msgId": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | sort -u; }

produce() { # topic count file
    ferrimq_tool produce --topic "$1" --count "$2" --size 64 --json | ids >>"$3"
}

# Fails unless the ids of $2 (consumed) equal those of $1 (produced).
same_ids() { # produced consumed what
    local want got
    want=$(sort -u "$1" | wc -l)
    got=$(sort -u "$2" | wc -l)
    if ! diff <(sort -u "$1") <(sort -u "$2") >"$WORK/diff"; then
        die "$3: consumed $got of $want ids; difference:\n$(head -20 "$WORK/diff")"
    fi
    log "$3: consumed exactly the $want ids produced"
}

# A new group reads topic $1 from the beginning; it must get exactly the ids of $3.
consume_exactly() { # topic group file
    local want
    want=$(sort -u "$3" | wc -l)
    ferrimq_tool consume --topic "$1" --group "$2" --from-beginning --count "$want" \
        --timeout 300 --json | ids >"$WORK/got-$2"
    same_ids "$3" "$WORK/got-$2" "group $2 on $1"
}

scenario_ready() {
    apply_cluster
    wait_for '{.status.phase}' Ready
    wait_for '{.status.topicsChanging}' 0
    log "cluster Ready with its topics"
}

# On `audit`: a group that stops consuming must not sit on `orders`, where it would hold the
# shrink's drain (offlineGroups: Wait).
scenario_produce_consume() {
    produce audit 2000 "$WORK/audit"
    consume_exactly audit e2e-first "$WORK/audit"
}

# A shrink drains for the groups consuming while it runs: group e2e-live consumes from the
# beginning throughout, and must end with every id of `orders`, including those written to
# queues 4..7 before the writes were lowered. (A group created after the shrink only sees
# queues 0..3, by design.)
scenario_shrink() {
    local total=$((1000 + 5 * 300 + 500)) pod=ferrimq-live-consumer
    kubectl -n "$NAMESPACE" run "$pod" --restart=Never --image="$BROKER_IMAGE" \
        --image-pull-policy=Never --env="NAMESRV_ADDR=$(namesrv_addr)" -- \
        consume --topic orders --group e2e-live --from-beginning --count "$total" \
        --timeout 900 --json
    produce orders 1000 "$WORK/orders"
    kubectl -n "$NAMESPACE" patch brokercluster "$CLUSTER" --type json \
        -p '[{"op":"replace","path":"/spec/topics/0/queues","value":4}]'
    local i
    for i in 1 2 3 4 5; do
        produce orders 300 "$WORK/orders"
        log "produced batch $i during the shrink"
    done
    wait_for '{.status.topics[?(@.name=="orders")].observed.read}' 4
    wait_for '{.status.topics[?(@.name=="orders")].phase}' Ready
    produce orders 500 "$WORK/orders"
    kubectl -n "$NAMESPACE" wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$pod" \
        --timeout "${TIMEOUT}s" || die "live consumer did not get $total messages"
    kubectl -n "$NAMESPACE" logs "$pod" | ids >"$WORK/live"
    kubectl -n "$NAMESPACE" delete pod "$pod" --wait=false
    same_ids "$WORK/orders" "$WORK/live" "group e2e-live across the shrink"
}

scenario_kill_master() {
    local pod="${CLUSTER}-broker-0-master-0"
    kubectl -n "$NAMESPACE" delete pod "$pod" --grace-period=0 --force
    kubectl -n "$NAMESPACE" wait --for=condition=Ready "pod/$pod" --timeout "${TIMEOUT}s"
    wait_for '{.status.phase}' Ready
    produce audit 500 "$WORK/audit"
    consume_exactly audit e2e-after-kill "$WORK/audit"
}

scenario_scale_in() {
    kubectl -n "$NAMESPACE" patch brokercluster "$CLUSTER" --type merge -p '{"spec":{"brokers":{"groups":1}}}'
    wait_for '{.status.groupDrains[0].brokerName}' "${CLUSTER}-broker-1"
    wait_for '{.status.groupDrains}' ""
    if kubectl -n "$NAMESPACE" get statefulset "${CLUSTER}-broker-1-master" >/dev/null 2>&1; then
        die "group 1 drained but its master StatefulSet is still there"
    fi
    log "group 1 drained and removed"
}

main() {
    if [[ ${1:-} == cleanup ]]; then
        kind delete cluster --name "$KIND_CLUSTER"
        return
    fi
    require docker kind kubectl helm
    create_cluster
    build_and_load
    install_operator
    scenario_ready
    scenario_produce_consume
    scenario_shrink
    scenario_kill_master
    scenario_scale_in
    log "all scenarios passed"
    if [[ ${KEEP_CLUSTER:-0} != 1 ]]; then
        kind delete cluster --name "$KIND_CLUSTER"
    fi
}

main "$@"
