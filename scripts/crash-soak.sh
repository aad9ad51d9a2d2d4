#!/usr/bin/env bash
# Crash soak: the seeded power-loss harness with many more seeds than CI, and the SIGKILL test
# with many more kills (issue 7). Figures print at the end of each part.
#
# Usage: scripts/crash-soak.sh [seeds] [kills]
#   seeds  power-loss seeds (default 50000; env INFINITEDB_CRASH_SEEDS)
#   kills  SIGKILLs per real backend (default 500; env INFINITEDB_KILLS)
# Env: INFINITEDB_SEED_BASE first seed (default: from the clock, printed, so a run can be
#      repeated); CARGO_TARGET_DIR as usual.
# A failing seed prints "FAILED ... at seed N; replay with INFINITEDB_SEED=N ...".
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="${1:-${INFINITEDB_CRASH_SEEDS:-50000}}"
kills="${2:-${INFINITEDB_KILLS:-500}}"
base="${INFINITEDB_SEED_BASE:-$(( $(date +%s) * 1000 ))}"

echo "== power loss: $seeds seeds from base $base"
start=$(date +%s)
INFINITEDB_CRASH_SEEDS="$seeds" INFINITEDB_SEED_BASE="$base" \
    cargo test --release -p infinitedb --test crash_power_loss_seeded -- --nocapture
echo "== power loss: $seeds seeds in $(( $(date +%s) - start )) s"

echo "== SIGKILL: $kills kills per backend (seed $base)"
start=$(date +%s)
INFINITEDB_KILLS="$kills" INFINITEDB_SEED="$base" \
    cargo test --release -p infinitedb --test kill_writer_sigkill -- --nocapture
echo "== SIGKILL: $kills kills per backend in $(( $(date +%s) - start )) s"
