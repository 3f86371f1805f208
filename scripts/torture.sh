#!/usr/bin/env bash
# The long crash torture (tests/cli/torture.rs): `svgauto run` and
# `svgauto restore` killed with SIGKILL at random, seeded moments over a big
# base, with every archive and dossier checked after each kill. Release build.
#
# Usage: scripts/torture.sh
#        KILLS=50 MB=500 SEED=42 scripts/torture.sh
#
#   KILLS          runs killed                          (default 30)
#   MB             size of the base, MiB                (default 300)
#   SEED           seed of every random choice          (default: the tests' fixed one)
#   RESTORE_KILLS  restores killed                      (default: max(KILLS, 6))
#   TIME_LIMIT     seconds the tests may take           (default 1500), build not included
#   BUILD_LIMIT    seconds the release build may take   (default 1800)
#
# Prints the tests' output, then the figures (lines `torture …`) and the
# elapsed time. Exit status: the tests' (124 if TIME_LIMIT was reached).
# To replay a failure, run again with the SEED it printed.
set -euo pipefail

cd "$(dirname "$0")/.."

export SVGAUTO_TORTURE_KILLS="${KILLS:-30}"
export SVGAUTO_TORTURE_MB="${MB:-300}"
if [[ -n "${SEED:-}" ]]; then export SVGAUTO_TORTURE_SEED="$SEED"; fi
if [[ -n "${RESTORE_KILLS:-}" ]]; then export SVGAUTO_TORTURE_RESTORE_KILLS="$RESTORE_KILLS"; fi
time_limit="${TIME_LIMIT:-1500}"

echo "== building (release)"
timeout "${BUILD_LIMIT:-1800}" cargo test --release --test cli --no-run

log="$(mktemp -t svgauto-torture.XXXXXX)"
trap 'rm -f "$log"' EXIT

echo "== SVGAUTO_TORTURE_KILLS=$SVGAUTO_TORTURE_KILLS SVGAUTO_TORTURE_MB=$SVGAUTO_TORTURE_MB" \
    "${SVGAUTO_TORTURE_SEED:+SVGAUTO_TORTURE_SEED=$SVGAUTO_TORTURE_SEED }cargo test --release --test cli torture -- --nocapture --test-threads 1" \
    "(limit ${time_limit} s)"
start=$(date +%s)
rc=0
timeout --kill-after=30 "$time_limit" \
    cargo test --release --test cli torture -- --nocapture --test-threads 1 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - start ))

echo
echo "== figures"
grep -oE 'torture(: | (settings|base|calibration|restore base|figures)).*' "$log" | sort -u || true
grep -E '^test result:' "$log" || true
echo "elapsed: ${elapsed} s"
if [[ $rc -eq 124 ]]; then
    echo "TIMED OUT after ${time_limit} s: lower MB or KILLS, or raise TIME_LIMIT" >&2
elif [[ $rc -ne 0 ]]; then
    echo "FAILED (exit $rc): see above; replay with the same SEED" >&2
fi
exit "$rc"
