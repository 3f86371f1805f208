#!/usr/bin/env bash
# Restores and verify side by side with 7-Zip (issue 13, point 2), warm
# cache, the commands of each comparison interleaved run after run, medians.
#
#   scripts/bench-restore.sh [--restore] [--verify] [--runs N] CORPUS
#   scripts/bench-restore.sh [--restore] [--verify] [--runs N] --many-files N
#
# CORPUS is a base (scripts/gen-corpus writes one); its archives are made
# with `svgauto run --all` when its sauve/ has none (and removed at the
# end). `--many-files N` benchmarks instead a base generated in /tmp (and
# removed at the end) of one dossier of N small files (1.5-6 KB of text,
# 100 a folder). Without --restore or --verify, both sections run.
#
# restore: the archive of the largest dossier (by bytes), restored by
#   - 7zz x ARCHIVE -oEMPTY && sync                  (the comparison: 7-Zip
#     flushes nothing itself, the sync is its flush)
#   - svgauto restore --to EMPTY ARCHIVE             (the same task)
#   - svgauto restore --base SCRATCH ARCHIVE         (the switch over a live
#     dossier unchanged since its backup, its old tree removed: a copy of
#     the dossier in a scratch base)
#   Target: each svgauto restore >= 0.8x the speed of 7zz x + sync.
# verify: every archive of the base, all at once:
#   - 7zz t -an -ai!sauve/B*.SVG  against  svgauto verify sauve/B*.SVG
#   Target: >= 1.0x. (Also shown: 7zz t with one process per core.)
#
# Each command's median wall time is printed with the command itself, then
# the ratios (speed of svgauto / speed of 7-Zip = 7-Zip's time / svgauto's).
# Needs 7zz (or 7z) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3 do_restore=0 do_verify=0 many=0 corpus=
while [ $# -gt 0 ]; do
  case $1 in
    --restore) do_restore=1 ;;
    --verify) do_verify=1 ;;
    --runs) runs=$2; shift ;;
    --many-files) many=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) corpus=$1 ;;
  esac
  shift
done
[ $do_restore = 1 ] || [ $do_verify = 1 ] || { do_restore=1; do_verify=1; }
if [ "$many" = 0 ] && [ -z "$corpus" ]; then
  echo "usage: scripts/bench-restore.sh [--restore] [--verify] [--runs N] CORPUS | --many-files N" >&2
  exit 2
fi
SEVENZ=$(command -v 7zz || command -v 7z) || { echo "7zz (or 7z) is needed" >&2; exit 2; }

cargo build --release --locked -q
svgauto=$PWD/target/release/svgauto
out=$(mktemp -d /tmp/svgauto-bench-restore.XXXXXX)
made_archives=
cleanup() {
  rm -rf "$out"
  if [ -n "$made_archives" ]; then rm -rf "$corpus/sauve" "$corpus/.svgauto"; fi
}
trap cleanup EXIT

if [ "$many" != 0 ]; then
  corpus=$out/many
  python3 - "$corpus" "$many" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
os.makedirs(root + "/dossiers/GRAND")
open(root + "/base.toml", "w").write(
    '[collaborators.COMPT]\ndossiers = "*"\n\n[backup]\ninclude_documents = true\n')
open(root + "/dossiers/GRAND/dossier.toml", "w").write('code = "GRAND"\nname = "SARL Grand"\n')
words = "facture client fournisseur compte journal ecriture montant debit credit tva banque".split()
for i in range(n):
    d = f"{root}/dossiers/GRAND/annee{i // 3500:02}/lot{i // 100 % 35:02}"
    os.makedirs(d, exist_ok=True)
    size, text = random.randint(1500, 6000), []
    while sum(map(len, text)) < size:
        text.append(f"{random.choice(words)} {random.randint(0, 99999)}\n")
    open(f"{d}/piece{i % 100:03}.txt", "w").write("".join(text))
EOF
fi
corpus=$(realpath "$corpus")
if ! compgen -G "$corpus/sauve/B*.SVG" >/dev/null; then
  made_archives=1
  "$svgauto" run --base "$corpus" --user COMPT --all --no-progress >/dev/null
fi
archives=("$corpus"/sauve/B*.SVG)
echo "base: $corpus — ${#archives[@]} archive(s); $(nproc) cores; $runs runs of each command, interleaved, warm cache"

# bench NAME...: runs each named comparison $runs times, interleaved; each
# NAME has SETUP[NAME] (untimed: cleans, then sync so that no command pays
# for another's writes) and CMD[NAME] (timed). Sets MEDIAN[NAME].
declare -A SETUP CMD MEDIAN
bench() {
  local name i
  for name in "$@"; do : >"$out/$name.times"; done
  for i in $(seq "$runs"); do
    for name in "$@"; do
      eval "${SETUP[$name]}"
      sync
      /usr/bin/time -f "%e" -o "$out/time" bash -c "${CMD[$name]}" >/dev/null 2>"$out/stderr" || {
        echo "$name failed:"; cat "$out/stderr"; exit 1; }
      cat "$out/time" >>"$out/$name.times"
    done
  done
  for name in "$@"; do
    MEDIAN[$name]=$(sort -n "$out/$name.times" | sed -n "$(((runs + 1) / 2))p")
    printf '  %-16s %7.2f s  (runs: %s)   %s\n' "$name" "${MEDIAN[$name]}" \
      "$(paste -sd' ' "$out/$name.times")" "${CMD[$name]}"
  done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

if [ $do_restore = 1 ]; then
  code=$(cd "$corpus/dossiers" && du -sb -- */ | sort -n | tail -1 | cut -f2 | tr -d /)
  archive=$corpus/sauve/B$code.SVG
  nfiles=$(find "$corpus/dossiers/$code" -type f | wc -l)
  mib=$(($(du -sb --apparent-size "$corpus/dossiers/$code" | cut -f1) / 1048576))
  echo
  echo "== restore: dossier $code ($nfiles files, $mib MiB), archive $(($(stat -c %s "$archive") / 1048576)) MiB"
  # The scratch base: the dossier and its archive, saved there so that its
  # catalog proves the archive holds the live state (no save before).
  scratch=$out/scratch
  mkdir -p "$scratch/dossiers"
  cp "$corpus/base.toml" "$scratch/"
  cp -a "$corpus/dossiers/$code" "$scratch/dossiers/"
  "$svgauto" run --base "$scratch" --user COMPT --no-progress >/dev/null
  cat "$archive" "$scratch/sauve/B$code.SVG" >/dev/null
  SETUP[7zz-x+sync]="rm -rf '$out/x'; mkdir '$out/x'"
  CMD[7zz-x+sync]="'$SEVENZ' x -bd '$archive' -o'$out/x' && sync"
  SETUP[restore-to]="rm -rf '$out/x' '$out/to'"
  CMD[restore-to]="'$svgauto' restore --to '$out/to' '$archive'"
  SETUP[restore-base]="rm -rf '$out/x' '$out/to'"
  CMD[restore-base]="'$svgauto' restore --base '$scratch' '$scratch/sauve/B$code.SVG'"
  bench 7zz-x+sync restore-to restore-base
  rm -rf "$out/x" "$out/to" "$scratch"
  echo "restore --to   / 7zz x + sync: $(ratio "${MEDIAN[7zz-x+sync]}" "${MEDIAN[restore-to]}")   (target >= 0.8)"
  echo "restore --base / 7zz x + sync: $(ratio "${MEDIAN[7zz-x+sync]}" "${MEDIAN[restore-base]}")   (target >= 0.8)"
  # For scripts/bench.sh's table: TARGET|what|measured|goal|commands.
  echo "TARGET|restore --to of $code ($nfiles files) / 7zz x + sync (speed)|$(ratio "${MEDIAN[7zz-x+sync]}" "${MEDIAN[restore-to]}")|>= 0.80|${CMD[restore-to]} ; ${CMD[7zz-x+sync]}"
  echo "TARGET|restore --base of $code ($nfiles files) / 7zz x + sync (speed)|$(ratio "${MEDIAN[7zz-x+sync]}" "${MEDIAN[restore-base]}")|>= 0.80|${CMD[restore-base]} ; ${CMD[7zz-x+sync]}"
fi

if [ $do_verify = 1 ]; then
  echo
  echo "== verify: ${#archives[@]} archive(s), $(($(cat "${archives[@]}" | wc -c) / 1048576)) MiB"
  SETUP[7zz-t]=":"
  CMD[7zz-t]="cd '$corpus' && '$SEVENZ' t -bd -an '-ai!sauve/B*.SVG'"
  SETUP[7zz-t-xargs]=":"
  CMD[7zz-t-xargs]="cd '$corpus' && printf '%s\\0' sauve/B*.SVG | xargs -0 -P$(nproc) -n 1 '$SEVENZ' t -bd"
  SETUP[verify]=":"
  CMD[verify]="cd '$corpus' && '$svgauto' verify sauve/B*.SVG"
  bench 7zz-t 7zz-t-xargs verify
  echo "verify / 7zz t                 : $(ratio "${MEDIAN[7zz-t]}" "${MEDIAN[verify]}")   (target >= 1.0)"
  echo "verify / 7zz t, $(nproc) processes     : $(ratio "${MEDIAN[7zz-t-xargs]}" "${MEDIAN[verify]}")"
  echo "TARGET|verify of ${#archives[@]} archive(s) / 7zz t (speed)|$(ratio "${MEDIAN[7zz-t]}" "${MEDIAN[verify]}")|>= 1.00|${CMD[verify]} ; ${CMD[7zz-t]}"
fi
