#!/usr/bin/env bash
# The scale targets of issue 13 (point 3) on one corpus, warm cache, pairs
# interleaved, medians of RUNS runs each (default 3, at least 3):
#
#   - the nothing-changed run (after a first full save) against one
#     `find dossiers -type f -printf '%s %T@ %p\n'` stat walk  (<= 1.5x)
#   - `svgauto status` and `svgauto run --dry-run` against the
#     nothing-changed run                                        (<= 2x)
#   - peak RSS (GNU time %M) of the full save, the nothing-changed run,
#     status and the dry run                                     (< 300 MiB)
#   - the full save's throughput (MB/s over the corpus' bytes) against
#     `tar -cf - dossiers | zstd -T0 -3` over the same files
#
#   scripts/gen-corpus --profile large-firm --seed 1 /tmp/firm20k
#   scripts/bench-scale.sh /tmp/firm20k [RUNS]
#
# Each ratio is printed with the commands that reproduce it. The last line,
# `curve: ...`, is one row of the scale curve (per dossier and per file).
# SVGAUTO=/path/to/svgauto measures that binary instead of building this
# checkout's. The corpus' sauve/ and .svgauto/ are deleted at the end.
# Needs: zstd, tar, GNU time (/usr/bin/time), find (GNU).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(realpath "${1:?usage: scripts/bench-scale.sh CORPUS_DIR [RUNS]}")
runs=${2:-3}
[ "$runs" -ge 3 ] || { echo "RUNS must be at least 3 (medians)" >&2; exit 2; }
for tool in zstd tar find; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "missing: GNU time (/usr/bin/time; apt-get install time)" >&2; exit 2; }

if [ -z "${SVGAUTO:-}" ]; then
  cargo build --release --locked -q
  SVGAUTO=$PWD/target/release/svgauto
fi
svgauto=$(realpath "$SVGAUTO")
out=$(mktemp -d /tmp/svgauto-bench-scale.XXXXXX)
clean='rm -rf "$corpus/sauve" "$corpus/.svgauto"'
trap 'rm -rf "$out"; eval "$clean"' EXIT
eval "$clean"
# Before each full save the previous output is moved aside, not deleted: on
# ext4 without a journal the inode allocator skips, one by one, the inodes
# freed in the last minutes, so a save right after deleting 20,000 archives
# pays for that deletion (see scripts/bench.sh). Deleted at the end.
aside='[ -e "$corpus/sauve" ] && mv "$corpus/sauve" "$out/aside.$RANDOM$RANDOM"; rm -rf "$corpus/.svgauto"'


ndossiers=$(find "$corpus/dossiers" -mindepth 1 -maxdepth 1 -type d | wc -l)
# The dossiers' files (a lock file left by an earlier run is not one).
nfiles=$(find "$corpus/dossiers" -type f ! -name dossier.lock | wc -l)
bytes=$(du -sb --apparent-size "$corpus/dossiers" | cut -f1)
echo "corpus: $corpus — $ndossiers dossiers, $nfiles files, $((bytes / 1048576)) MiB;" \
  "$(nproc) cores; $runs runs each, pairs interleaved, warm cache"
# Warm the cache: every run then reads from memory.
find "$corpus/dossiers" -type f -print0 | xargs -0 cat >/dev/null

# The commands measured (run by bash -c, from this folder).
declare -A CMD=(
  [save]="'$svgauto' run --base '$corpus' --user COMPT --all --no-progress"
  [tar_zstd]="tar -C '$corpus' -cf - dossiers | zstd -q -T0 -3 -o '$out/all.tar.zst'"
  [unchanged]="'$svgauto' run --base '$corpus' --user COMPT --no-progress"
  [find]="find '$corpus/dossiers' -type f -printf '%s %T@ %p\n'"
  [status]="'$svgauto' status --base '$corpus'"
  [dry_run]="'$svgauto' run --base '$corpus' --user COMPT --dry-run"
)

# timed NAME: runs CMD[NAME] once, appends "wall rss_kb" to NAME's runs.
# Exit 1 is accepted (status says 1 when a dossier needs attention).
timed() {
  local name=$1 rc=0
  /usr/bin/time -f "%e %M" -o "$out/time" bash -c "${CMD[$name]}" >/dev/null 2>"$out/stderr" || rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "$name failed (exit $rc): ${CMD[$name]}"; cat "$out/stderr"; exit 1
  fi
  cat "$out/time" >>"$out/$name.runs"
}

# median NAME FIELD: the median of one field (1: wall s, 2: RSS KiB).
median() {
  cut -d' ' -f"$2" "$out/$1.runs" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

# 1. Full saves, each against a tar | zstd stream; the last save stays.
for _ in $(seq "$runs"); do
  eval "$aside"
  timed save
  rm -f "$out/all.tar.zst"
  timed "tar_zstd"
done
out_bytes=$(du -sb --apparent-size "$corpus/sauve" | cut -f1)
# 2. The nothing-changed night, side by side with the walk, status, dry run.
for _ in $(seq "$runs"); do
  for name in unchanged find status "dry_run"; do timed "$name"; done
done

mib() { echo $(($1 / 1024)); }
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else printf \"n/a\" }"; }
per() { awk "BEGIN{ printf \"%.1f\", $1 * 1000000 / $2 }"; }
printf '\n%-10s %9s %11s %10s %9s\n' what "wall s" "µs/dossier" "µs/file" "RSS MiB"
for name in save "tar_zstd" unchanged find status "dry_run"; do
  w=$(median "$name" 1)
  printf '%-10s %9.2f %11s %10s %9s\n' "$name" "$w" "$(per "$w" "$ndossiers")" \
    "$(per "$w" "$nfiles")" "$(mib "$(median "$name" 2)")"
done

w() { median "$1" 1; }
rss() { mib "$(median "$1" 2)"; }
echo
echo "full save: $(awk "BEGIN{printf \"%.0f\", $bytes / 1000000 / $(w save)}") MB/s," \
  "output $((out_bytes / 1048576)) MiB"
echo "  throughput save / tar|zstd -T0 -3  : $(ratio "$(w "tar_zstd")" "$(w save)")"
echo "      ${CMD[save]}"
echo "      ${CMD[tar_zstd]}"
echo "nothing changed / find stat walk     : $(ratio "$(w unchanged)" "$(w find)")   (target <= 1.5)"
echo "      ${CMD[unchanged]}"
echo "      ${CMD[find]}"
echo "status / nothing changed             : $(ratio "$(w status)" "$(w unchanged)")   (target <= 2)"
echo "      ${CMD[status]}"
echo "dry run / nothing changed            : $(ratio "$(w "dry_run")" "$(w unchanged)")   (target <= 2)"
echo "      ${CMD[dry_run]}"
echo "peak RSS MiB: save $(rss save), nothing changed $(rss unchanged)," \
  "status $(rss status), dry run $(rss "dry_run")   (target < 300; /usr/bin/time -f %M)"
# The targets, for scripts/bench.sh's table: TARGET|what|measured|goal|commands.
echo "TARGET|scale ($ndossiers dossiers): full save, svgauto / tar + zstd -T0 -3 stream (speed)|$(ratio "$(w "tar_zstd")" "$(w save)")|>= 0.90|${CMD[save]} ; ${CMD[tar_zstd]}"
echo "TARGET|scale ($ndossiers dossiers): nothing changed / find stat walk (time)|$(ratio "$(w unchanged)" "$(w find)")|<= 1.50|${CMD[unchanged]} ; ${CMD[find]}"
echo "TARGET|scale ($ndossiers dossiers): status / nothing changed (time)|$(ratio "$(w status)" "$(w unchanged)")|<= 2.00|${CMD[status]} ; ${CMD[unchanged]}"
echo "TARGET|scale ($ndossiers dossiers): dry run / nothing changed (time)|$(ratio "$(w "dry_run")" "$(w unchanged)")|<= 2.00|${CMD[dry_run]} ; ${CMD[unchanged]}"
for name in save unchanged status dry_run; do
  echo "TARGET|scale ($ndossiers dossiers): peak RSS of $name, MiB|$(rss "$name")|<= 300|${CMD[$name]}"
done
echo "curve: dossiers=$ndossiers files=$nfiles save_s=$(w save) tar_zstd_s=$(w "tar_zstd")" \
  "unchanged_s=$(w unchanged) find_s=$(w find) status_s=$(w status) dry_run_s=$(w "dry_run")" \
  "rss_save=$(rss save) rss_unchanged=$(rss unchanged) rss_status=$(rss status) rss_dry_run=$(rss "dry_run")"
