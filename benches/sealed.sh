#!/usr/bin/env bash
# Issue 14's encryption figures (release build): a full backup and a full restore of the mixed
# set, unsealed and sealed ([encryption]), through the running service, and `restic backup` /
# `restic restore` (encrypted by design) on the same set. Each figure is the median of RUNS
# (default 5), as wall time and as CPU time (user + system of the service process, or of restic):
# on a shared machine the CPU time is the steadier measure of what sealing costs. The data: the
# mixed set (`cargo bench --bench archive -- --assemble DIR`, or SET=DIR). Needs curl, python3
# and restic. Scratch (data dirs, repositories, restore targets) on tmpfs, SCRATCH=/dev/shm/sbench
# by default, so the disk does not decide the figures; removed at the end.
set -euo pipefail
SET=${SET:-/tmp/backupd-bench-set}
RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."
command -v restic >/dev/null || { echo "needs restic (apt-get install -y restic)" >&2; exit 1; }
restic version
[ -d "$SET" ] || cargo bench --bench archive -- --assemble "$SET"
cargo build --release -q
REPO=$PWD
D=${SCRATCH:-/dev/shm/sbench}
rm -rf $D
mkdir -p $D
trap 'kill ${PID:-0} 2>/dev/null || true; rm -rf $D' EXIT
printf 'bench passphrase, not a secret\n' > $D/passphrase
for mode in plain sealed; do
  mkdir -p $D/$mode
  {
    echo "[storage]"
    echo "data_dir = \"$D/$mode/data\""
    echo "[scheduler]"
    echo "timezone = \"UTC\""
    echo "[restore]"
    echo "allowed_targets = [\"$D\"]"
    echo "[[sources.files]]"
    echo "path = \"$SET\""
    if [ $mode = sealed ]; then
      echo "[encryption]"
      echo "passphrase_file = \"$D/passphrase\""
    fi
  } > $D/$mode/config.toml
done

PORT=18751
B=http://127.0.0.1:$PORT/api/backup
start() {
  "$REPO"/target/release/backupd serve --config $D/$1/config.toml --bind 127.0.0.1:$PORT 2>>$D/$1/serve.err &
  PID=$!
  for _ in $(seq 200); do curl -sf $B/scheduler/status >/dev/null && return; sleep 0.05; done
  echo "the service did not start" >&2; cat $D/$1/serve.err >&2; exit 1
}
stop() { kill $PID; wait $PID 2>/dev/null || true; }
source benches/lib.sh

# ms CMD...: CMD's wall time in milliseconds (output discarded).
ms() { local s; s=$(date +%s%N); "$@" >/dev/null; echo $((($(date +%s%N) - s) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
TICK_MS=$((1000 / $(getconf CLK_TCK)))
# cpu_ms: CPU time (user + system) the service process has used so far, in ms.
cpu_ms() { awk -v t=$TICK_MS '{print ($14 + $15) * t}' /proc/$PID/stat; }
# wall_cpu CMD...: runs CMD, prints "WALL_MS CPU_MS" of it and its children (restic).
wall_cpu() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = (time.monotonic() - t) * 1000
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(round(wall), round((r.ru_utime + r.ru_stime) * 1000))
PY
}

declare -A BW BC RW RC
for mode in plain sealed; do
  start $mode
  bw=(); bc=(); rw=(); rc=()
  for i in $(seq $RUNS); do
    sync
    c0=$(cpu_ms)
    out=$(run daily_full_backup)
    c1=$(cpu_ms)
    [ "$(echo $out | cut -d' ' -f1)" = succeeded ] || { echo "backup failed: $out" >&2; exit 1; }
    bw+=("$(echo $out | cut -d' ' -f2)"); bc+=($((c1 - c0)))
    bid=$(echo $out | cut -d' ' -f4)
    c0=$(cpu_ms)
    rw+=("$(ms curl -sf -XPOST -H 'Content-Type: application/json' "$B/backups/$bid/restore" -d "{\"target\":\"$D/$mode/t$i\"}")")
    c1=$(cpu_ms); rc+=($((c1 - c0)))
    want=$(find "$SET" -type f | wc -l); got=$(find "$D/$mode/t$i" -type f | wc -l)
    [ "$want" = "$got" ] || { echo "restored $got files of $want" >&2; exit 1; }
    rm -rf "$D/$mode/t$i"
  done
  size=$(du -sh $D/$mode/data/backups | cut -f1)
  stop
  BW[$mode]=$(median "${bw[@]}"); BC[$mode]=$(median "${bc[@]}")
  RW[$mode]=$(median "${rw[@]}"); RC[$mode]=$(median "${rc[@]}")
  printf '%-7s backup wall %6s cpu %6s ms   restore wall %6s cpu %6s ms   (%s runs; %s archives)\n' \
    $mode "${BW[$mode]}" "${BC[$mode]}" "${RW[$mode]}" "${RC[$mode]}" $RUNS "$size"
  echo "        backup wall: ${bw[*]}; cpu: ${bc[*]}; restore wall: ${rw[*]}; cpu: ${rc[*]}"
  rm -rf $D/$mode/data
done

export RESTIC_PASSWORD=bench
bw=(); bc=(); rw=(); rc=()
for i in $(seq $RUNS); do
  export RESTIC_REPOSITORY=$D/restic$i
  restic init -q
  sync
  read w c < <(wall_cpu restic backup -q "$SET"); bw+=($w); bc+=($c)
  read w c < <(wall_cpu restic restore -q latest --target $D/rt$i); rw+=($w); rc+=($c)
  [ $i = 1 ] && size=$(du -sh $RESTIC_REPOSITORY | cut -f1)
  rm -rf $RESTIC_REPOSITORY $D/rt$i
done
BW[restic]=$(median "${bw[@]}"); BC[restic]=$(median "${bc[@]}")
RW[restic]=$(median "${rw[@]}"); RC[restic]=$(median "${rc[@]}")
printf '%-7s backup wall %6s cpu %6s ms   restore wall %6s cpu %6s ms   (%s runs; %s repository)\n' \
  restic "${BW[restic]}" "${BC[restic]}" "${RW[restic]}" "${RC[restic]}" $RUNS "$size"
echo "        backup wall: ${bw[*]}; cpu: ${bc[*]}; restore wall: ${rw[*]}; cpu: ${rc[*]}"

python3 - "${BW[plain]}" "${BW[sealed]}" "${RW[plain]}" "${RW[sealed]}" "${BW[restic]}" "${RW[restic]}" \
  "${BC[plain]}" "${BC[sealed]}" "${RC[plain]}" "${RC[sealed]}" "${BC[restic]}" "${RC[restic]}" <<'PY'
import sys
bp, bs, rp, rs, rb, rr, cbp, cbs, crp, crs, cbr, crr = map(float, sys.argv[1:])
print(f"sealed / unsealed: backup wall {bs/bp:.2f}x cpu {cbs/cbp:.2f}x, restore wall {rs/rp:.2f}x cpu {crs/crp:.2f}x (target <= 1.15x)")
print(f"restic / sealed:   backup wall {rb/bs:.2f}x cpu {cbr/cbs:.2f}x, restore wall {rr/rs:.2f}x cpu {crr/crs:.2f}x (above 1: restic is slower)")
PY
