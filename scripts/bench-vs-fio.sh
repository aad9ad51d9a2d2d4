#!/usr/bin/env bash
# bench-vs-fio.sh — uring-io's raw disk speed next to fio's, same directory, same run.
#
# Each row runs fio and our `raw_io` (bench/src/bin/raw_io.rs) with matching parameters,
# alternating them (fio, ours, fio, ours, ...) so drift in the device or the page cache hits
# both alike, and reports the median of the repeats. Ratios from one run are what we compare:
# absolute numbers move from machine to machine and run to run; the ratio to fio on the same
# disk at the same minute does not (STYLE.md §8).
#
# Rows (target: ours >= 0.9x fio in each):
#   seq-write 1 MiB QD4 / QD32   fio --ioengine=io_uring --direct=1 --rw=write  (MB/s)
#   rand-read 4 KiB QD32         fio --ioengine=io_uring --direct=1 --rw=randread (IOPS)
#   commit 4 KiB QD1             fio --ioengine=psync --fdatasync=1 --direct=1 --rw=write
#                                (commits/s) on a file fio already wrote; ours: CommitQueue
#                                chains WRITE(O_DIRECT) -> FSYNC(DATASYNC) on a pre-written file.
#                                fio gets --direct=1 too so both sides do the same work (an
#                                O_DIRECT write then an fdatasync); fio's latency column for
#                                this row is its fdatasync latency alone.
#   commit, vs fio io_uring      the same commit row against fio's io_uring engine with
#                                --fdatasync=1 (IORING_OP_FSYNC): a reference, since on the
#                                machine this was written on an IORING_OP_FSYNC(DATASYNC) after an
#                                O_DIRECT overwrite completed several times faster than the
#                                fdatasync(2) syscall, for fio as for us.
# fio runs with --overwrite=1, so its file is laid out (written) before it is measured, like our
# pre-written file: both overwrite written blocks.
#
# Usage: scripts/bench-vs-fio.sh [--dir DIR] [--runtime SECONDS] [--repeats N] [--json FILE]
# Env:   CARGO_TARGET_DIR (where raw_io is built), BENCH_FILE_BYTES (default 1 GiB).
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
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if ! command -v fio >/dev/null 2>&1; then
  echo "fio missing: installing it with apt-get" >&2
  apt-get install -y fio >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y fio >/dev/null; }
fi
command -v jq >/dev/null 2>&1 || { apt-get install -y jq >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y jq >/dev/null; }; }

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -q -p infinitedb-bench --bin raw_io)
RAW_IO="$TARGET_DIR/release/raw_io"

if [[ -z "$DIR" ]]; then
  DIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-fio.XXXXXX")"
  OWN_DIR=1
fi
mkdir -p "$DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; if [[ -n "${OWN_DIR:-}" ]]; then rm -rf "$DIR"; fi' EXIT
echo "directory: $DIR ($(df -T "$DIR" | awk 'NR==2 {print $2}')), runtime ${RUNTIME}s, median of $REPEATS" >&2

# fio_once METRIC DIRECTION LATENCY_SECTION FIO_ARGS...: prints "value p50_us p99_us" (value:
# MB/s or IOPS; latency from fio's DIRECTION or "sync" section: with --fdatasync=1 fio reports
# the write and the fdatasync separately, and the fdatasync is the commit's cost).
fio_once() {
  local metric="$1" direction="$2" latency="$3"; shift 3
  fio --name=job --filename="$DIR/fio.dat" --size="$FILE_BYTES" --overwrite=1 \
      --time_based --runtime="$RUNTIME" --lat_percentiles=1 \
      --output-format=json --output="$WORK/fio.json" "$@" >/dev/null
  jq -r --arg d "$direction" --arg l "$latency" --arg m "$metric" \
    '.jobs[0][$d] as $j | .jobs[0][$l].lat_ns.percentile as $p
    | [ (if $m == "mbps" then $j.bw_bytes / 1e6 else $j.iops end),
        ($p["50.000000"] / 1e3), ($p["99.000000"] / 1e3) ]
    | map(tostring) | join(" ")' "$WORK/fio.json"
}

# ours_once METRIC -- RAW_IO_ARGS...: prints "value p50_us p99_us".
ours_once() {
  local metric="$1"; shift
  "$RAW_IO" --dir "$DIR" --file-bytes "$FILE_BYTES" --runtime-seconds "$RUNTIME" --json "$@" \
      2>>"$WORK/raw_io.log" |
    jq -r --arg m "$metric" '[ (if $m == "mbps" then .mb_per_s else .iops end),
        .latency_us_p50, .latency_us_p99 ] | map(tostring) | join(" ")'
}

# median FILE COLUMN
median() {
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

ROWS=(seqwrite_qd4 seqwrite_qd32 randread_qd32 commit_qd1 commit_qd1_uring)
declare -A LABEL=( [seqwrite_qd4]="seq write 1MiB QD4 (MB/s)" [seqwrite_qd32]="seq write 1MiB QD32 (MB/s)"
                   [randread_qd32]="rand read 4KiB QD32 (IOPS)" [commit_qd1]="commit 4KiB QD1 fdatasync (/s)"
                   [commit_qd1_uring]="commit 4KiB QD1 vs fio io_uring (/s)" )

# run_row ROW REPEAT: one fio run and one raw_io run of ROW; odd repeats run fio first, even
# repeats ours first, so neither side always inherits the other's device state (write-back,
# a cloud disk's burst credits).
run_row() {
  local row="$1" repeat="$2"
  if (( repeat % 2 == 0 )); then
    run_side ours "$row"; run_side fio "$row"
  else
    run_side fio "$row"; run_side ours "$row"
  fi
}

run_side() {
  local side="$1" row="$2"
  case "$side:$row" in
    fio:seqwrite_qd4)
      fio_once mbps write write --rw=write --bs=1m --iodepth=4 --ioengine=io_uring --direct=1 ;;
    ours:seqwrite_qd4)
      ours_once mbps --mode seq-write --queue-depth 4 --block-bytes 1048576 ;;
    fio:seqwrite_qd32)
      fio_once mbps write write --rw=write --bs=1m --iodepth=32 --ioengine=io_uring --direct=1 ;;
    ours:seqwrite_qd32)
      ours_once mbps --mode seq-write --queue-depth 32 --block-bytes 1048576 ;;
    fio:randread_qd32)
      fio_once iops read read --rw=randread --bs=4k --iodepth=32 --ioengine=io_uring --direct=1 ;;
    ours:randread_qd32)
      ours_once iops --mode rand-read --queue-depth 32 --block-bytes 4096 ;;
    fio:commit_qd1)
      fio_once iops write sync --rw=write --bs=4k --iodepth=1 --ioengine=psync --fdatasync=1 --direct=1 ;;
    ours:commit_qd1 | ours:commit_qd1_uring)
      ours_once iops --mode commit --queue-depth 1 --block-bytes 4096 ;;
    fio:commit_qd1_uring)
      fio_once iops write sync --rw=write --bs=4k --iodepth=1 --ioengine=io_uring --fdatasync=1 --direct=1 ;;
  esac >>"$WORK/$row.$side"
}

for ((repeat = 1; repeat <= REPEATS; repeat++)); do
  for row in "${ROWS[@]}"; do
    echo "repeat $repeat/$REPEATS: $row" >&2
    run_row "$row" "$repeat"
  done
done
head -n 1 "$WORK/raw_io.log" >&2 || true

printf '%-32s %12s %12s %7s   %-21s %-21s\n' "row" "ours" "fio" "ratio" "ours p50/p99 us" "fio p50/p99 us"
JSON_ROWS=()
for row in "${ROWS[@]}"; do
  ours="$(median "$WORK/$row.ours" 1)"; fio_value="$(median "$WORK/$row.fio" 1)"
  ours_p50="$(median "$WORK/$row.ours" 2)"; ours_p99="$(median "$WORK/$row.ours" 3)"
  fio_p50="$(median "$WORK/$row.fio" 2)"; fio_p99="$(median "$WORK/$row.fio" 3)"
  ratio="$(awk -v a="$ours" -v b="$fio_value" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
  printf '%-32s %12.1f %12.1f %6sx   %-21s %-21s\n' "${LABEL[$row]}" "$ours" "$fio_value" "$ratio" \
    "$(printf '%.0f/%.0f' "$ours_p50" "$ours_p99")" "$(printf '%.0f/%.0f' "$fio_p50" "$fio_p99")"
  JSON_ROWS+=("$(jq -n --arg row "$row" --arg lbl "${LABEL[$row]}" --argjson ours "$ours" \
    --argjson fio "$fio_value" --argjson ratio "$ratio" --argjson ours_p50 "$ours_p50" \
    --argjson ours_p99 "$ours_p99" --argjson fio_p50 "$fio_p50" --argjson fio_p99 "$fio_p99" \
    '{"row": $row, "label": $lbl, "ours": $ours, "fio": $fio, "ratio": $ratio,
      "ours_latency_us_p50": $ours_p50, "ours_latency_us_p99": $ours_p99,
      "fio_latency_us_p50": $fio_p50, "fio_latency_us_p99": $fio_p99}')")
done

if [[ -n "$JSON_OUT" ]]; then
  printf '%s\n' "${JSON_ROWS[@]}" | jq -s --argjson runtime "$RUNTIME" --argjson repeats "$REPEATS" \
    '{"runtime_seconds": $runtime, "repeats": $repeats, "rows": .}' >"$JSON_OUT"
  echo "wrote $JSON_OUT" >&2
fi
