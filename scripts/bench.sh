#!/usr/bin/env bash
# Throughput of svgauto's full save, side by side with what a user would
# otherwise script, on one corpus, warm cache, median of N runs each.
#
#   scripts/gen-corpus --profile typical --seed 1 /tmp/corpus-typical
#   scripts/bench.sh /tmp/corpus-typical [RUNS]        # RUNS defaults to 3
#
# Prints one table (median wall time, MB/s over the corpus' bytes, CPU
# seconds, peak RSS, output size) and the ratios the targets are about.
# Every byte of the corpus is processed (gen-corpus sets include_documents).
# Needs: zip, 7zz (or 7z), zstd, tar, GNU time (/usr/bin/time); installs
# nothing itself beyond what is missing, with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(realpath "${1:?usage: scripts/bench.sh CORPUS_DIR [RUNS]}")
runs=${2:-3}
threads=$(nproc)

need=()
command -v zip >/dev/null || need+=(zip)
command -v zstd >/dev/null || need+=(zstd)
command -v 7zz >/dev/null || command -v 7z >/dev/null || need+=(7zip)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
SEVENZ=$(command -v 7zz || command -v 7z)

cargo build --release --locked -q
svgauto=$PWD/target/release/svgauto
out=$(mktemp -d /tmp/svgauto-bench.XXXXXX)
trap 'rm -rf "$out" "$corpus/sauve" "$corpus/.svgauto"' EXIT

bytes=$(du -sb --apparent-size "$corpus/dossiers" | cut -f1)
ndossiers=$(find "$corpus/dossiers" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo "corpus: $corpus — $ndossiers dossiers, $((bytes / 1048576)) MiB; $threads cores; $runs runs each, warm cache"
# Warm the cache: every tool then reads from memory, as in the targets.
find "$corpus/dossiers" -type f -exec cat {} + >/dev/null

# measure NAME OUTPUT_PATH SETUP_CMD CMD: runs CMD $runs times after
# SETUP_CMD, records "wall user+sys maxrss_kb out_bytes" per run.
declare -A RESULT
measure() {
  local name=$1 outpath=$2 setup=$3 cmd=$4 i
  : >"$out/$name.runs"
  for i in $(seq "$runs"); do
    eval "$setup"
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" bash -c "$cmd" >/dev/null 2>"$out/stderr" || {
      echo "$name failed:"; cat "$out/stderr"; exit 1; }
    read -r wall user sys rss <"$out/time"
    local size=0
    [ -e "$outpath" ] && size=$(du -sb --apparent-size "$outpath" | cut -f1)
    echo "$wall $(awk "BEGIN{print $user + $sys}") $rss $size" >>"$out/$name.runs"
  done
  # The median run by wall time.
  RESULT[$name]=$(sort -n "$out/$name.runs" | sed -n "$(((runs + 1) / 2))p")
}

clean_svgauto='rm -rf "$corpus/sauve" "$corpus/.svgauto"'
measure svgauto "$corpus/sauve" "$clean_svgauto" \
  "$svgauto run --base '$corpus' --user COMPT --all --no-progress"
measure svgauto-t1 "$corpus/sauve" "$clean_svgauto" \
  "$svgauto run --base '$corpus' --user COMPT --all --no-progress --threads 1"
measure tar-zstd "$out/all.tar.zst" 'rm -f "$out/all.tar.zst"' \
  "tar -C '$corpus' -cf - dossiers | zstd -q -T0 -3 -o '$out/all.tar.zst'"
measure zip-seq "$out/zip" 'rm -rf "$out/zip"; mkdir "$out/zip"' \
  "cd '$corpus/dossiers' && for d in *; do zip -q -r -1 '$out/zip/B'\$d.zip \"\$d\"; done"
measure zip-xargs "$out/zip" 'rm -rf "$out/zip"; mkdir "$out/zip"' \
  "cd '$corpus/dossiers' && ls | xargs -P$threads -I{} zip -q -r -1 '$out/zip/B{}.zip' {}"
measure 7z-seq "$out/7z" 'rm -rf "$out/7z"; mkdir "$out/7z"' \
  "cd '$corpus/dossiers' && for d in *; do '$SEVENZ' a -bd -tzip -mx=1 -mmt=on '$out/7z/B'\$d.zip \"\$d\" >/dev/null; done"

# The nothing-changed night: a full save first, then a run with nothing to do.
eval "$clean_svgauto"
"$svgauto" run --base "$corpus" --user COMPT --no-progress >/dev/null
measure svgauto-unchanged /nonexistent ':' \
  "$svgauto run --base '$corpus' --user COMPT --no-progress"
measure find-stat /nonexistent ':' \
  "find '$corpus/dossiers' -type f -printf '%s %T@\n'"

printf '\n%-18s %9s %9s %9s %10s %11s\n' tool "wall s" "MB/s" "CPU s" "RSS MiB" "out MiB"
for name in svgauto svgauto-t1 tar-zstd zip-seq zip-xargs 7z-seq svgauto-unchanged find-stat; do
  read -r wall cpu rss size <<<"${RESULT[$name]}"
  printf '%-18s %9.2f %9.0f %9.2f %10.0f %11.0f\n' "$name" "$wall" \
    "$(awk "BEGIN{print $bytes / 1000000 / $wall}")" "$cpu" "$((rss / 1024))" "$((size / 1048576))"
done

wall() { echo "${RESULT[$1]}" | cut -d' ' -f1; }
size() { echo "${RESULT[$1]}" | cut -d' ' -f4; }
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else printf \"n/a (too fast to time)\" }"; }
echo
echo "throughput svgauto / tar|zstd -T0 -3     : $(ratio "$(wall tar-zstd)" "$(wall svgauto)")   (target >= 0.90)"
echo "output     svgauto / tar|zstd            : $(ratio "$(size svgauto)" "$(size tar-zstd)")   (target <= 1.10)"
echo "throughput svgauto / sequential zip -r -1: $(ratio "$(wall zip-seq)" "$(wall svgauto)")   (target >= 4)"
echo "throughput svgauto / xargs -P zip -r -1  : $(ratio "$(wall zip-xargs)" "$(wall svgauto)")"
echo "throughput svgauto / 7z -mx=1 per dossier: $(ratio "$(wall 7z-seq)" "$(wall svgauto)")"
echo "throughput $threads threads / 1 thread        : $(ratio "$(wall svgauto-t1)" "$(wall svgauto)")   (target >= 1.8 typical, >= 1.7 one-huge)"
echo "nothing changed: svgauto / find stat walk: $(ratio "$(wall svgauto-unchanged)" "$(wall find-stat)")   (target <= 1.5)"
