#!/usr/bin/env bash
# Builds the upstream Kubernetes programs the operator's integration tests need, from their Go
# modules through the Go module proxy (prebuilt binary downloads are not available on the CI
# machines): kube-apiserver, kube-controller-manager, kubectl, etcd and helm.
#
# Output: $FERRIMQ_K8S_CACHE/<k8s version>/bin/{kube-apiserver,kube-controller-manager,kubectl,etcd,helm}
# (default cache ~/.cache/ferrimq-k8s). A binary that already exists is not rebuilt.
#
# Usage: scripts/k8s-tools.sh [--print-bin-dir]
#   --print-bin-dir   only print the bin directory (for test harnesses) and exit
#
# Environment:
#   K8S_VERSION   Kubernetes release to build (default v1.36.3); staging modules are pinned to
#                 the matching v0.<minor>.<patch>
#   ETCD_VERSION  etcd server module version (default v3.6.8)
#   HELM_VERSION  helm module version (default v3.22.0)
#   FERRIMQ_K8S_CACHE  cache root (default ~/.cache/ferrimq-k8s)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${FERRIMQ_K8S_CACHE:-$HOME/.cache/ferrimq-k8s}"
BIN_DIR="$CACHE_ROOT/$K8S_VERSION/bin"
WORK_DIR="$CACHE_ROOT/$K8S_VERSION/modules"

if [[ "${1:-}" == "--print-bin-dir" ]]; then
    echo "$BIN_DIR"
    exit 0
fi

command -v go >/dev/null || { echo "k8s-tools: go is required" >&2; exit 1; }
mkdir -p "$BIN_DIR" "$WORK_DIR"

log() { echo "k8s-tools: $(date -u +%H:%M:%S) $*" >&2; }

# k8s.io/kubernetes v1.X.Y publishes its staging modules as k8s.io/<name> v0.X.Y.
staging_version() {
    local v="${K8S_VERSION#v1.}"
    echo "v0.$v"
}

# Prints `replace` lines turning every local-path replace of a module's go.mod (`X => ./dir`,
# `X => ../dir`) into a pin to the published module X at version $2. Replaces pointing at a
# FORBIDDEN_DEPENDENCY marker are dropped: they only guard against accidental imports.
pinned_replaces() {
    local gomod="$1" version="$2"
    { grep -E '^[[:space:]]*(replace[[:space:]]+)?[^[:space:]]+[[:space:]]+=>[[:space:]]+\.\.?/' "$gomod" || true; } \
        | { grep -v FORBIDDEN_DEPENDENCY || true; } \
        | sed -E 's/^[[:space:]]*(replace[[:space:]]+)?([^[:space:]]+)[[:space:]]+=>.*/\2/' \
        | sort -u \
        | while read -r module; do echo "replace $module => $module $version"; done
}

# Path of a module's go.mod in the module cache (downloads it through the proxy).
module_gomod() {
    local scratch="$1" module="$2" version="$3"
    (cd "$scratch" && go mod download -json "$module@$version") \
        | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}

# Version stamps, so `kube-apiserver --version`, `/version` (which helm's kubeVersion checks
# read) and `helm version` report the real release instead of v0.0.0-master.
k8s_ldflags() {
    local minor="${K8S_VERSION#v1.}"
    minor="${minor%%.*}"
    local pkg=k8s.io/component-base/version
    echo "-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
}

# build_tool NAME MODULE VERSION PIN_VERSION LDFLAGS PACKAGE...
# Creates a throw-away main module requiring MODULE@VERSION with its local replaces pinned to
# PIN_VERSION, then builds each PACKAGE (package path) into $BIN_DIR/<last path element>.
build_tool() {
    local name="$1" module="$2" version="$3" pin="$4" ldflags="$5"
    shift 5
    local missing=()
    local pkg
    for pkg in "$@"; do
        [[ -x "$BIN_DIR/$(basename "$pkg")" ]] || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "$name: already built, skipping"
        return 0
    fi
    local dir="$WORK_DIR/$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && go mod init "ferrimq.local/k8s-tools/$name" >/dev/null 2>&1)
    local gomod
    gomod="$(module_gomod "$dir" "$module" "$version")"
    [[ -n "$gomod" ]] || { log "$name: cannot resolve $module@$version"; return 1; }
    pinned_replaces "$gomod" "$pin" >>"$dir/go.mod"
    log "$name: $(grep -c '^replace' "$dir/go.mod") replace lines pinned to $pin"
    local getargs=()
    for pkg in "${missing[@]}"; do getargs+=("$pkg@$version"); done
    (cd "$dir" && go get "${getargs[@]}")
    for pkg in "${missing[@]}"; do
        local out="$BIN_DIR/$(basename "$pkg")"
        log "$name: building $pkg -> $out"
        (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $ldflags" -o "$out.tmp" "$pkg")
        mv "$out.tmp" "$out"
    done
    log "$name: done"
}

build_kubernetes() {
    build_tool kubernetes k8s.io/kubernetes "$K8S_VERSION" "$(staging_version)" "$(k8s_ldflags)" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
    # The etcd server module's root package is the `etcd` binary; its build output is named
    # after the last element of the package path (v3), so build and rename.
    if [[ -x "$BIN_DIR/etcd" ]]; then
        log "etcd: already built, skipping"
        return 0
    fi
    local tmp_bin="$BIN_DIR/v3"
    build_tool etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" "" go.etcd.io/etcd/server/v3
    mv "$tmp_bin" "$BIN_DIR/etcd"
}

build_helm() {
    build_tool helm helm.sh/helm/v3 "$HELM_VERSION" "$HELM_VERSION" \
        "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" helm.sh/helm/v3/cmd/helm
}

start=$(date +%s)
build_etcd
build_helm
build_kubernetes
log "all tools in $BIN_DIR ($(($(date +%s) - start)) s)"
ls -l "$BIN_DIR" >&2
