#!/usr/bin/env bash
# bench-vs-fio.sh — infinitedb next to fio: same directory, same run, matching parameters.
#
# Installs fio when missing, builds `infinitedb-bench` (release) and runs its `--vs-fio` mode,
# which alternates fio and our side per row (fio first on odd repeats, ours first on even
# ones, so neither always inherits the other's device state) and reports the median of the
# repeats. For the raw rows both sides overwrite the same file, the ratio is the median of the
# per-repeat ratios, and each side of a sequential-write row starts after 3 s idle. Ratios
# from one run are what we compare: absolute numbers move from machine to machine and minute
# to minute; the ratio to fio on the same disk at the same minute does not. The
# logic lives in bench/src/compare.rs; this script only installs, builds and prints.
#
# Rows (ours vs fio, target):
#   raw commits/s, 4KiB write+fdatasync QD1  uring-io CommitQueue WRITE->FSYNC(DATASYNC) on a
#                                            pre-written file vs fio --ioengine=psync
#                                            --fdatasync=1 --direct=1 --overwrite=1   (>= 0.9x)
#   raw seq write 1MiB O_DIRECT QD4 / QD32   uring-io RawQueue vs fio --ioengine=io_uring
#                                            --direct=1 --rw=write (MB/s)             (>= 0.9x)
#   raw rand read 4KiB O_DIRECT QD32         ... --rw=randread (IOPS)                 (>= 0.9x)
#   durable puts/s, 1 writer, 128B           engine, Sync, vs fio's QD1 commits/s     (>= 0.85x)
#   durable puts/s, 64 writers, 128B         engine, Sync, vs fio's QD1 commits/s     (>= 25x)
#   NoSync ingest 1KiB (ingested / device)   engine MB/s vs fio seq write QD32 MB/s
#   point reads/s                            engine gets vs fio rand read QD32 IOPS
#   box-query records/s (~1000 records/box)  engine box queries over a sealed 2-D key set
#                                            vs fio rand read QD32 IOPS
# Each row also shows both sides' p50/p99 latency per operation in microseconds (ours: per
# put, get or box query; fio's from its lat_ns percentiles, a commit's as write + fdatasync).
# The verdict: ok (target met), below, or "noisy bound" (ours more than 1.5x above a ceiling:
# the bound's run was disturbed); "-" for rows with neither.
#
# Usage: scripts/bench-vs-fio.sh [--dir DIR] [--runtime SECONDS] [--repeats N] [--json FILE]
# Env:   CARGO_TARGET_DIR (where the binary is built), BENCH_FILE_BYTES (default 1 GiB).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR=""
RUNTIME=5
REPEATS=3
JSON_OUT=""
FILE_BYTES="${BENCH_FILE_BYTES:-1073741824}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --runtime) RUNTIME="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --json) JSON_OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

install_missing() {
  local tool="$1"
  command -v "$tool" >/dev/null 2>&1 && return 0
  echo "$tool missing: installing it with apt-get" >&2
  apt-get install -y "$tool" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
}
install_missing fio
install_missing jq

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -q -p infinitedb-bench --bin infinitedb-bench)
BENCH="$TARGET_DIR/release/infinitedb-bench"

if [[ -z "$DIR" ]]; then
  DIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-fio.XXXXXX")"
  OWN_DIR=1
fi
mkdir -p "$DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; if [[ -n "${OWN_DIR:-}" ]]; then rm -rf "$DIR"; fi' EXIT
echo "directory: $DIR, runtime ${RUNTIME}s per side, median of $REPEATS, fio $(fio --version)" >&2

# Progress goes to stderr only on a terminal; the report is JSON, rendered below.
"$BENCH" --vs-fio --directory "$DIR" --runtime "$RUNTIME" --repeats "$REPEATS" \
  --filesize "$FILE_BYTES" --output-format json >"$WORK/report.json"

date -u '+%Y-%m-%d %H:%M UTC'
jq -r '.environment as $e
  | "kernel \($e.kernel // "unknown"), \($e.filesystem // "unknown") on \($e.mount_source // "unknown"), \($e.cpus) CPUs",
    (if $e.device then "device \($e.device.name): logical_block_size=\($e.device.logical_block_bytes) write_cache=\($e.device.write_cache) fua=\($e.device.fua)" else "device: none" end),
    "backend \($e.backend.kind // "unknown") (direct_io=\($e.backend.direct_io)): \($e.backend.reason)"' \
  "$WORK/report.json"
echo
printf '%-42s %12s %12s %8s %9s %-12s %19s %19s\n' "row" "ours" "fio" "ratio" "target" \
  "verdict" "ours p50/p99 us" "fio p50/p99 us"
jq -r 'def lat: if . == null then "-" else "\(.p50 * 10 | round / 10)/\(.p99 * 10 | round / 10)" end;
  .comparisons[] | [.figure, .unit, .ours, .bound_figure, .bound, .ratio,
    (if .target_ratio == null then "-" else ">=\(.target_ratio)x" end),
    (.verdict // "-"),
    (.ours_latency_percentiles_us | lat), (.bound_latency_percentiles_us | lat)] | @tsv' "$WORK/report.json" |
  while IFS=$'\t' read -r figure unit ours bound_figure bound ratio target verdict ours_latency fio_latency; do
    printf '%-42s %12.1f %12.1f %7.2fx %9s %-12s %19s %19s   (%s; fio: %s)\n' "$figure" "$ours" "$bound" \
      "$ratio" "$target" "$verdict" "$ours_latency" "$fio_latency" "$unit" "$bound_figure"
  done
jq -r '.notes[] | "note: \(.)"' "$WORK/report.json"

if [[ -n "$JSON_OUT" ]]; then
  cp "$WORK/report.json" "$JSON_OUT"
  echo "wrote $JSON_OUT" >&2
fi
