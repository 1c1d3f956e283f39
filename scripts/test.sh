#!/usr/bin/env bash
# The one test command (README, CI): installs what the tests need, then runs every check.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the slow external suites (Java, real kube-apiserver)
#
# The full run installs Debian packages first (one apt-get), then fetches and builds the external
# programs in the background (the Apache RocketMQ jars from Maven Central; kube-apiserver, etcd,
# kubectl and helm from their Go modules; cargo-fuzz from crates.io) while cargo compiles, so
# downloads overlap compiling. It also runs every fuzz target for 20 s (scripts/fuzz.sh).
# Every step prints its start time and the run ends with a table of step durations.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

RUN_START=$(date +%s)
STEP_START=$RUN_START
STEP_NAME=""
DURATIONS=()
BG_DIR="$(mktemp -d)"

step() {
  local now
  now=$(date +%s)
  [[ -n "$STEP_NAME" ]] && DURATIONS+=("$(printf '%5d s  %s' $((now - STEP_START)) "$STEP_NAME")")
  STEP_START=$now
  STEP_NAME="$*"
  printf '\n==> [%s, +%d s] %s\n' "$(date -u +%H:%M:%S)" $((now - RUN_START)) "$*"
}

summary() {
  local rc=$? now
  now=$(date +%s)
  [[ -n "$STEP_NAME" ]] && DURATIONS+=("$(printf '%5d s  %s' $((now - STEP_START)) "$STEP_NAME")")
  echo
  echo "step durations (exit $rc after $((now - RUN_START)) s):"
  printf '  %s\n' "${DURATIONS[@]}"
  rm -rf "$BG_DIR"
}
trap summary EXIT

# background NAME COMMAND...: runs COMMAND with its output in a log, for `await NAME`.
background() {
  local name="$1"
  shift
  echo "started in the background: $name"
  ( s=$(date +%s) rc=0; "$@" || rc=$?; echo "$name: exit $rc after $(($(date +%s) - s)) s"; exit $rc ) \
    >"$BG_DIR/$name.log" 2>&1 &
  echo $! >"$BG_DIR/$name.pid"
}

# await NAME: waits for a background job; prints its log, and fails the run if it failed.
await() {
  local name="$1" rc=0
  wait "$(cat "$BG_DIR/$name.pid")" || rc=$?
  sed "s/^/[$name] /" "$BG_DIR/$name.log"
  [[ $rc == 0 ]] || { echo "$name failed (exit $rc)" >&2; exit "$rc"; }
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup)" >&2; exit 1; }
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
}

# One apt-get for every Debian package the full run needs (concurrent apt-gets would collide on
# dpkg's lock): Java 17 + Maven, openssl (test certificates), iproute2 (network namespaces),
# podman + runc + musl-tools (images).
ensure_packages() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v podman >/dev/null || missing+=(podman)
  [[ -x /usr/sbin/runc ]] || missing+=(runc)
  command -v musl-gcc >/dev/null || missing+=(musl-tools)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) == 0 ]] || { echo "missing ${missing[*]}; install them (apt-get needs root)" >&2; exit 1; }
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

java_artifacts() {
  scripts/java-compat.sh classpath >/dev/null
  scripts/java-compat.sh scenario-classpath 4.9 >/dev/null
  scripts/java-compat.sh scenario-classpath 5.3 >/dev/null
}

ensure_rust
step "cargo fmt --check"
cargo fmt --all -- --check
if [[ $quick == 0 ]]; then
  step "Debian packages"
  ensure_packages
  # Kubernetes programs are cached under ~/.cache/ferrimq-k8s (a cached run takes no time).
  background k8s-tools scripts/k8s-tools.sh
  background maven java_artifacts
  background cargo-fuzz scripts/fuzz.sh --install
fi
step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "scripts: syntax and the benchmark table"
for script in scripts/*.sh e2e/kind/*.sh; do bash -n "$script"; done
python3 scripts/perf_table_test.py
step "cargo test --no-run (build the tests)"
cargo test --workspace --locked --no-run
if [[ $quick == 0 ]]; then
  step "container images: podman build + smoke run"
  scripts/images.sh build && scripts/images.sh smoke
  step "fuzzing: every cargo-fuzz target of the remoting codec, 20 s each"
  await cargo-fuzz
  scripts/fuzz.sh 20
  step "waiting for the Apache RocketMQ artifacts (Maven Central)"
  await maven
  export FERRIMQ_REQUIRE_JAVA=1
  step "waiting for the Kubernetes test binaries (Go modules)"
  await k8s-tools
  export FERRIMQ_REQUIRE_K8S=1
  # The replication partition test builds network namespaces: root and iproute2's `ip`.
  [[ $(id -u) == 0 ]] && export FERRIMQ_REQUIRE_NETNS=1
fi
step "cargo test --workspace"
cargo test --workspace --locked --no-fail-fast
echo
echo "all tests passed"
