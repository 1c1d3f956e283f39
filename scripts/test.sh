#!/usr/bin/env bash
# The one test command (README, CI): installs what the tests need, then runs every check.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the slow external suites (Java, real kube-apiserver)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

step() { printf '\n==> %s\n' "$*"; }

ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup)" >&2; exit 1; }
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
}

ensure_java() {
  if command -v java >/dev/null && command -v mvn >/dev/null; then return; fi
  step "installing Java 17 and Maven"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
}

ensure_k8s_tools() {
  # kube-apiserver, kube-controller-manager, etcd and helm, built from their Go modules and
  # cached under ~/.cache/ferrimq-k8s (a cached run takes no time).
  command -v openssl >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq openssl >/dev/null; }
  step "building Kubernetes test binaries from Go modules (cached)"
  scripts/k8s-tools.sh
  export FERRIMQ_REQUIRE_K8S=1
}

ensure_netns() {
  # The replication partition test builds network namespaces: root and iproute2's `ip`.
  [[ $(id -u) == 0 ]] || return 0
  command -v ip >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq iproute2 >/dev/null; }
  export FERRIMQ_REQUIRE_NETNS=1
}

ensure_rust
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "scripts: syntax and the benchmark table"
for script in scripts/*.sh e2e/kind/*.sh; do bash -n "$script"; done
python3 scripts/perf_table_test.py
if [[ $quick == 0 ]]; then
  ensure_java
  step "resolving Apache RocketMQ artifacts from Maven Central"
  scripts/java-compat.sh classpath >/dev/null
  scripts/java-compat.sh scenario-classpath 4.9 >/dev/null
  scripts/java-compat.sh scenario-classpath 5.3 >/dev/null
  export FERRIMQ_REQUIRE_JAVA=1
  ensure_k8s_tools
  ensure_netns
  step "container images: podman build + smoke run"
  scripts/images.sh build && scripts/images.sh smoke
fi
step "cargo test --workspace"
cargo test --workspace --locked --no-fail-fast
echo
echo "all tests passed"
