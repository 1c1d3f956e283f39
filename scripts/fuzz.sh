#!/usr/bin/env bash
# Runs the cargo-fuzz targets of broker/remoting (frame decoding, JSON and ROCKETMQ headers, batch
# bodies, JSON bodies) with libFuzzer and AddressSanitizer on the nightly toolchain, SECONDS each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 60 s, every target)
#   scripts/fuzz.sh --install                  only make sure cargo-fuzz is there
# Installs cargo-fuzz from crates.io when missing. A crash fails the run; libFuzzer keeps the input
# under broker/remoting/fuzz/artifacts/TARGET/ (replay: cargo +nightly fuzz run TARGET FILE) and the
# growing corpus under broker/remoting/fuzz/corpus/TARGET/ (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../broker/remoting"

rustc +nightly --version >/dev/null 2>&1 ||
  { echo "cargo fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
[[ ${1:-} == --install ]] && exit 0

secs=${1:-60}
shift || true
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "SECONDS must be a positive integer" >&2; exit 2; }

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo +nightly fuzz list)
[[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets found" >&2; exit 1; }
cargo +nightly fuzz build -O

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
  if cargo +nightly fuzz run -O "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    echo "$target: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  else
    tail -n 60 "$log"
    echo "fuzz target $target failed: see the input under broker/remoting/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
