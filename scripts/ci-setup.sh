#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain. Safe to run repeatedly.
set -euo pipefail

# rustfmt and clippy ship with the toolchain here; add them if a minimal profile lacks them.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "${component}" || echo "ci-setup: could not add ${component}" >&2
  fi
done
