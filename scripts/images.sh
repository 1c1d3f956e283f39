#!/usr/bin/env bash
# Builds and smoke-tests the two ferrimq container images with podman, pulling nothing:
# both images are `FROM scratch` with one statically linked binary (deploy/Containerfile.*).
#
# Usage:
#   scripts/images.sh build   static builds (musl, Cargo profile `container`: release
#                             without debug info) + podman build of
#                             ferrimq:dev and ferrimq-operator:dev (also tagged :<crate version>)
#   scripts/images.sh smoke   runs each image once: `--help` of both, and
#                             `ferrimq store demo --dir /data --messages 20000` with a volume
#
# On a fresh CI machine (root) it installs podman, runc and musl-tools with apt-get, the Rust
# musl target with rustup, and writes the podman settings these machines need into
# /etc/containers/containers.conf when that file is missing.
#
# Environment:
#   CARGO_TARGET_DIR   cargo's target directory (default: target)
#   IMAGE_TAG          tag of both images (default: dev)
#   PODMAN_RUNTIME     OCI runtime passed to podman (default: /usr/sbin/runc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
RUNTIME="${PODMAN_RUNTIME:-/usr/sbin/runc}"
CONTAINERS_CONF=/etc/containers/containers.conf
MUSL=x86_64-unknown-linux-musl
GNU=x86_64-unknown-linux-gnu

log() { echo "images: $(date -u +%H:%M:%S) $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Runs "$@" and logs how long it took, labelled $1.
timed() {
    local label="$1" start
    shift
    start=$(date +%s)
    "$@"
    log "$label: $(($(date +%s) - start)) s"
}

podman_cmd() { podman --runtime "$RUNTIME" "$@"; }

apt_install() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    [[ -x "$RUNTIME" ]] || missing+=(runc)
    command -v musl-gcc >/dev/null || missing+=(musl-tools)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get needs root)"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Without these two settings podman from Debian cannot run containers on the CI machines
# (no systemd cgroup manager, and the default ulimits are refused).
containers_conf() {
    if [[ -f "$CONTAINERS_CONF" ]]; then
        grep -q 'default_ulimits' "$CONTAINERS_CONF" && grep -q 'cgroup_manager' "$CONTAINERS_CONF" && return 0
        die "$CONTAINERS_CONF exists without default_ulimits/cgroup_manager; add
  [containers] default_ulimits = []   and   [engine] cgroup_manager = \"cgroupfs\""
    fi
    [[ $(id -u) -eq 0 ]] || die "$CONTAINERS_CONF is missing and only root can write it"
    log "writing $CONTAINERS_CONF"
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    cat >"$CONTAINERS_CONF" <<'EOF'
# Written by ferrimq scripts/images.sh for CI machines without systemd.
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
EOF
}

# Prints the Rust target to build static binaries for: musl when rustup can add it, else the
# gnu target linked with +crt-static (glibc static binaries; fine for these programs, which do
# not use NSS lookups by name).
static_target() {
    if rustup target list --installed 2>/dev/null | grep -qx "$MUSL" \
        || rustup target add "$MUSL" >&2; then
        echo "$MUSL"
    else
        log "the musl target is unavailable; linking $GNU statically (+crt-static)"
        echo "$GNU"
    fi
}

cargo_static() {
    local target="$1"
    [[ "$target" == "$GNU" ]] && export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
    # ring (rustls, in the operator) compiles C: use musl's gcc wrapper for the musl target.
    export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" nice cargo build --profile container --locked \
        --target "$target" -p ferrimq-cli -p ferrimq-operator \
        --bin ferrimq --bin ferrimq-operator)
}

# Refuses to package a binary that needs a dynamic loader (scratch has none).
assert_static() {
    local bin="$1"
    if readelf -l "$bin" | grep -q 'INTERP'; then
        die "$bin is dynamically linked"
    fi
    log "$(basename "$bin"): static, $(($(stat -c %s "$bin") / 1024 / 1024)) MiB"
}

crate_version() {
    sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1
}

# podman_build FILE NAME BINARY: builds deploy/Containerfile.FILE as image NAME from a staging
# context holding only the binary and the runtime directories (the repository is never sent).
podman_build() {
    local file="$1" name="$2" bin="$3" stage
    stage="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: $stage is local
    trap "rm -rf '$stage'; trap - RETURN" RETURN
    # The container profile builds without debug info; strip what the Rust std carries.
    strip --strip-debug -o "$stage/$(basename "$bin")" "$bin"
    mkdir -p "$stage/rootfs/var/lib/ferrimq/store" "$stage/rootfs/etc/ferrimq" "$stage/rootfs/tmp"
    chmod 1777 "$stage/rootfs/tmp"
    podman_cmd build --quiet -f "$ROOT/deploy/Containerfile.$file" \
        -t "$name:$IMAGE_TAG" -t "$name:$(crate_version)" "$stage" >/dev/null
    log "$name:$IMAGE_TAG built ($(podman_cmd image inspect --format '{{.Size}}' "$name:$IMAGE_TAG") bytes)"
}

build() {
    local start target dir
    start=$(date +%s)
    timed "tools" apt_install
    containers_conf
    target="$(static_target)"
    timed "cargo build --profile container --target $target" cargo_static "$target"
    dir="$TARGET_DIR/$target/container"
    assert_static "$dir/ferrimq"
    assert_static "$dir/ferrimq-operator"
    timed "podman build ferrimq" podman_build ferrimq ferrimq "$dir/ferrimq"
    timed "podman build ferrimq-operator" podman_build operator ferrimq-operator "$dir/ferrimq-operator"
    log "build done in $(($(date +%s) - start)) s"
}

# expect_output LABEL PATTERNS COMMAND...: runs the command, fails unless it succeeds and its
# output contains every line of PATTERNS (fixed strings).
expect_output() {
    local label="$1" patterns="$2" out pattern
    shift 2
    if ! out="$("$@" 2>&1)"; then
        echo "$out" >&2
        die "$label: command failed"
    fi
    while IFS= read -r pattern; do
        grep -qF -- "$pattern" <<<"$out" || { echo "$out" >&2; die "$label: no '$pattern' in output"; }
    done <<<"$patterns"
    log "$label: ok"
}

smoke() {
    local start data
    start=$(date +%s)
    containers_conf
    expect_output "ferrimq --help" "Usage: ferrimq" \
        podman_cmd run --rm "ferrimq:$IMAGE_TAG" --help
    expect_output "ferrimq-operator --help" "--lease-name" \
        podman_cmd run --rm "ferrimq-operator:$IMAGE_TAG" --help
    expect_output "non-root user" "65532:65532" \
        podman_cmd image inspect --format '{{.Config.User}}' "ferrimq:$IMAGE_TAG"
    data="$(mktemp -d)"
    # The image runs as 65532; the volume must be writable by it (fsGroup does this in Kubernetes).
    chown 65532:65532 "$data"
    local demo=(podman_cmd run --rm -v "$data:/data" "ferrimq:$IMAGE_TAG"
        store demo --dir /data --messages 20000 --size 256)
    expect_output "store demo (append, read back, reopen)" "read back all 20000 messages of DemoTopic
after restart: 20000 messages, identical" "${demo[@]}"
    [[ -d "$data/commitlog" ]] || die "store demo left no commitlog in the volume"
    expect_output "store inspect of the volume" "DemoTopic" \
        podman_cmd run --rm -v "$data:/data" "ferrimq:$IMAGE_TAG" store inspect --dir /data
    rm -rf "$data"
    log "smoke done in $(($(date +%s) - start)) s"
}

case "${1:-}" in
    build) build ;;
    smoke) smoke ;;
    *) echo "usage: $0 build|smoke" >&2; exit 2 ;;
esac
