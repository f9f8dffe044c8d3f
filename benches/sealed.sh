#!/usr/bin/env bash
# Issue 14's encryption figures (release build): a full backup and a full restore of the mixed
# set, unsealed and sealed ([encryption]), through the running service, and `restic backup` /
# `restic restore` (encrypted by design) on the same set. Each figure is the median of RUNS
# (default 3). The data: the mixed set (`cargo bench --bench archive -- --assemble DIR`, or
# SET=DIR). Needs curl, python3 and restic. Scratch under /tmp/sbench (removed at the end).
set -euo pipefail
SET=${SET:-/tmp/backupd-bench-set}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
[ -d "$SET" ] || cargo bench --bench archive -- --assemble "$SET"
cargo build --release -q
REPO=$PWD
D=/tmp/sbench
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

declare -A BACKUP RESTORE
for mode in plain sealed; do
  start $mode
  bs=(); rs=()
  for i in $(seq $RUNS); do
    sync
    out=$(run daily_full_backup)
    [ "$(echo $out | cut -d' ' -f1)" = succeeded ] || { echo "backup failed: $out" >&2; exit 1; }
    bs+=("$(echo $out | cut -d' ' -f2)")
    bid=$(echo $out | cut -d' ' -f4)
    rs+=("$(ms curl -sf -XPOST -H 'Content-Type: application/json' "$B/backups/$bid/restore" -d "{\"target\":\"$D/$mode/t$i\"}")")
    want=$(find "$SET" -type f | wc -l); got=$(find "$D/$mode/t$i" -type f | wc -l)
    [ "$want" = "$got" ] || { echo "restored $got files of $want" >&2; exit 1; }
    rm -rf "$D/$mode/t$i"
  done
  stop
  BACKUP[$mode]=$(median "${bs[@]}"); RESTORE[$mode]=$(median "${rs[@]}")
  printf '%-8s full backup %6s ms (runs: %s)   restore %6s ms (runs: %s)   archives %s\n' \
    $mode "${BACKUP[$mode]}" "${bs[*]}" "${RESTORE[$mode]}" "${rs[*]}" "$(du -sh $D/$mode/data/backups | cut -f1)"
  rm -rf $D/$mode/data
done

export RESTIC_PASSWORD=bench
rb=(); rr=()
for i in $(seq $RUNS); do
  export RESTIC_REPOSITORY=$D/restic$i
  restic init -q
  sync
  rb+=("$(ms restic backup -q "$SET")")
  rr+=("$(ms restic restore -q latest --target $D/rt$i)")
  [ $i = 1 ] && size=$(du -sh $RESTIC_REPOSITORY | cut -f1)
  rm -rf $RESTIC_REPOSITORY $D/rt$i
done
printf '%-8s full backup %6s ms (runs: %s)   restore %6s ms (runs: %s)   repository %s\n' \
  restic "$(median "${rb[@]}")" "${rb[*]}" "$(median "${rr[@]}")" "${rr[*]}" "$size"

python3 - "${BACKUP[plain]}" "${BACKUP[sealed]}" "${RESTORE[plain]}" "${RESTORE[sealed]}" \
  "$(median "${rb[@]}")" "$(median "${rr[@]}")" <<'PY'
import sys
bp, bs, rp, rs, rb, rr = map(float, sys.argv[1:])
print(f"sealed / unsealed: backup {bs/bp:.2f}x, restore {rs/rp:.2f}x (target <= 1.15x)")
print(f"restic / sealed:   backup {rb/bs:.2f}x, restore {rr/rs:.2f}x (above 1: restic is slower)")
PY
