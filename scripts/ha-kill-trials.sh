#!/usr/bin/env bash
# Repeated SIGKILL trials of a SYNC_MASTER + SYNC_FLUSH master with a slave (real `ferrimq`
# processes): in every trial producers send under load, the master is SIGKILLed at a different
# moment, and every message acknowledged with SEND_OK must be in the slave's queues (asserted by
# message id). Prints one line per trial and fails on the first lost message.
#
# Usage: scripts/ha-kill-trials.sh [TRIALS]      (default 20)
# Environment: CARGO_TARGET_DIR (cargo's target directory), CARGO_PROFILE (e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-20}"
export FERRIMQ_HA_KILL_TRIALS="$trials"
# shellcheck disable=SC2086
cargo test ${CARGO_PROFILE:-} -p ferrimq-cli --test ha_sync_kill -- --nocapture 2>&1 |
    tee /dev/stderr | grep -E '^ha-kill trial' | awk -v want="$trials" '
    { n++; acked += $9; lost += $NF }
    END {
        printf "ha-kill: %d of %d trials, %d acknowledged messages, %d lost\n", n, want, acked, lost
        exit !(n == want && lost == 0)
    }'
