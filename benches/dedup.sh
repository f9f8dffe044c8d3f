#!/usr/bin/env bash
# Issue 15's benchmark: the deduplicated repository (release build, through the running service)
# side by side with restic and borg on the same data in one run.
#
# The data: a generated ~500 MB mixed set (text, compressible binary, random, a SQL dump and two
# sparse images; `gen` below), of which 1 % of the files change each simulated day. Each day: a
# full backup (ours: the `daily_full_backup` job; restic: `backup --force`, which re-reads every
# file; borg: `create --files-cache=disabled`), then five 4-hourly incrementals, each after a
# fifth of the day's changes (ours: `incremental_backup`; restic: `backup` with its parent; borg:
# `create` with its files cache). After DAYS (7) days: stored bytes, time per day-2+ full and
# per incremental (means), restore of the day-7 full (median of RESTORES=3, alternating with restic), peak RSS (ours: the service process's
# VmHWM over the whole run, as /usr/bin/time -v reports it; theirs: /usr/bin/time's maximum
# resident size, the largest of their commands) and our ratios to
# restic. Then fulls up to PRUNE_DAYS (30) simulated days, the oldest forgotten as a 7-day
# retention would, and one prune timed (ours: the `cleanup_expired` run; restic: `forget
# --keep-last 7 --prune`; borg: `prune --keep-last 7` + `compact`).
#
# restic and borg encrypt by design; ours does not unless [encryption] is configured (ENCRYPT=1
# turns it on, with a passphrase file). Needs curl, python3, /usr/bin/time, restic and borg
# (apt-get install -y restic borgbackup). Scratch goes under $D (default /tmp/dedupbench).
set -euo pipefail
D=${D:-/tmp/dedupbench}
DAYS=${DAYS:-7}
PRUNE_DAYS=${PRUNE_DAYS:-30}
SIZE_MB=${SIZE_MB:-500}
# Our prune repacks packs whose live share is below this; restic's default (--max-unused 5%)
# is about 0.95. With 1 % of files changed a day little goes dead in 30 days: at 0.5 nothing
# does.
REPACK_BELOW=${REPACK_BELOW:-0.5}
cd "$(dirname "$0")/.."
REPO=$PWD
for tool in restic borg curl python3 /usr/bin/time; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y restic borgbackup time curl)" >&2; exit 1; }
done
cargo build --release -q
rm -rf $D
mkdir -p $D/t


# change DAY PART PARTS: rewrites a part of the day's 1 % of the files (a different 1 % each day:
# every 100th file from offset DAY), each in its middle, as an edited document or database would.
change() {
  python3 - "$D/set" "$1" "$2" "$3" <<'PY'
import os, sys
root, day, part, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs)
todays = files[day % 100::100]
mine = todays[part::parts]
for p in mine:
    size = os.path.getsize(p)
    with open(p, 'r+b') as fh:
        fh.seek(size // 2)
        fh.write(os.urandom(min(4096, max(1, size // 10))))
PY
}

source benches/lib.sh
gen $D/set $SIZE_MB
LOGICAL=$(du -sb $D/set | cut -f1)

# ---- ours ----
PORT=18742
B=http://127.0.0.1:$PORT/api/backup
cat > $D/backupd.toml <<EOT
[storage]
data_dir = "$D/ours"
[scheduler]
timezone = "UTC"
autostart = false
[retention]
full = "forever"
incremental = "forever"
[repository]
enabled = true
repack_below = $REPACK_BELOW
[restore]
allowed_targets = ["$D/t"]
[[sources.files]]
name = "set"
path = "$D/set"
EOT
# OFFSITE=1: a dir remote beside it, so the figures include what goes off-site (issue 16: it
# should be what dedup stored, not 7 fulls). The copies run after each backup is recorded.
if [ "${OFFSITE:-0}" = 1 ]; then
  mkdir -p $D/offsite
  printf '[[remotes]]\nname = "offsite"\nkind = "dir"\npath = "%s"\n' $D/offsite >> $D/backupd.toml
fi
if [ "${ENCRYPT:-0}" = 1 ]; then
  echo bench > $D/pass
  printf '[encryption]\npassphrase_file = "%s"\n' $D/pass >> $D/backupd.toml
fi
start() {
  "$REPO"/target/release/backupd serve --config $D/backupd.toml --bind 127.0.0.1:$PORT 2>>$D/serve.err &
  PID=$!
  for _ in $(seq 200); do curl -sf $B/scheduler/status >/dev/null && return; sleep 0.05; done
  echo "the service did not start" >&2; exit 1
}
stop() { kill $PID; wait $PID 2>/dev/null || true; }
trap 'kill $PID 2>/dev/null || true' EXIT
# secs JOB: runs the job, fails the bench unless it succeeded, prints its duration in seconds.
secs() {
  local out; out=$(run "$1")
  case "$out" in succeeded*) ;; *) echo "$1: $out" >&2; exit 1 ;; esac
  python3 -c "print('%.2f' % ($(echo "$out" | cut -d' ' -f2) / 1000))"
}
# tv CMD...: runs CMD under /usr/bin/time, prints its wall seconds; keeps the largest RSS in $D/rss.<tool>.
tv() {
  local tool=$1; shift
  /usr/bin/time -f '%e %M' -o $D/tv "$@" >/dev/null
  read -r secs kb < $D/tv
  local max; max=$(cat $D/rss.$tool 2>/dev/null || echo 0)
  [ "$kb" -gt "$max" ] && echo "$kb" > $D/rss.$tool
  echo "$secs"
}

start
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$D/restic BORG_PASSPHRASE=bench BORG_REPO=$D/borg
restic init -q
borg init --encryption=repokey-blake2 $BORG_REPO >/dev/null 2>&1
declare -A FULL INC
for tool in ours restic borg; do FULL[$tool]=""; INC[$tool]=""; done
# Every backup starts with the set in the page cache: borg drops the cache of each file it
# reads (posix_fadvise DONTNEED), so whoever ran after its full read cold what the others read
# warm. Reading the set first puts all three in the same state.
warm() { find $D/set -type f -print0 | xargs -0 cat | wc -c >/dev/null; }
for day in $(seq 1 $DAYS); do
  [ $day -gt 1 ] && change $day 0 6
  warm; f_ours=$(secs daily_full_backup)
  warm; f_restic=$(tv restic restic backup -q --force $D/set)
  warm; f_borg=$(tv borg borg create --files-cache=disabled ::full-$day $D/set)
  if [ $day -gt 1 ]; then
    FULL[ours]+=" $f_ours"; FULL[restic]+=" $f_restic"; FULL[borg]+=" $f_borg"
  fi
  for part in 1 2 3 4 5; do
    change $day $part 6
    warm; INC[ours]+=" $(secs incremental_backup)"
    warm; INC[restic]+=" $(tv restic restic backup -q $D/set)"
    warm; INC[borg]+=" $(tv borg borg create ::inc-$day-$part $D/set)"
  done
  echo "day $day: full ours $f_ours s, restic $f_restic s, borg $f_borg s; stored ours $(du -sb $D/ours/repository | cut -f1), restic $(du -sb $D/restic | cut -f1), borg $(du -sb $D/borg | cut -f1)"
done

# Restore of the last full (day DAYS), RESTORES (3) times each, ours and restic alternating
# which goes first, each into a new directory: on this machine's ext4 (mounted with `discard`)
# deleting a restored tree makes the next writer pay for it in kernel time, growing with every
# deletion, whoever writes next, so nothing is deleted until all are done. Medians.
BID=$(curl -sf "$B/backups?job_id=daily_full_backup&limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
RSNAP=$(restic snapshots -q --json | python3 -c 'import json,sys;s=[x for x in json.load(sys.stdin)];print(s[-6]["short_id"])')
restore_ours() {
  local s; s=$(date +%s.%N)
  curl -sf -XPOST -H 'Content-Type: application/json' "$B/backups/$BID/restore" -d "{\"target\":\"$D/t/ours$1\"}" >/dev/null
  python3 -c "print('%.2f'%($(date +%s.%N)-$s))"
}
R_OURS=""; R_RESTIC=""
for i in $(seq 1 ${RESTORES:-3}); do
  sync
  if [ $((i % 2)) = 1 ]; then
    R_OURS+=" $(restore_ours $i)"; sync; R_RESTIC+=" $(tv restic restic restore -q $RSNAP --target $D/t/restic$i)"
  else
    R_RESTIC+=" $(tv restic restic restore -q $RSNAP --target $D/t/restic$i)"; sync; R_OURS+=" $(restore_ours $i)"
  fi
done
sync
mkdir -p $D/t/borg
R_borg=$(cd $D/t/borg && tv borg borg extract ::full-$DAYS)
median() { python3 -c "import sys,statistics;print('%.2f'%statistics.median(float(x) for x in sys.argv[1:]))" $@; }
echo "restores: ours$R_OURS s; restic$R_RESTIC s"
R_ours=$(median $R_OURS); R_restic=$(median $R_RESTIC)
# The day-7 full is the set as it was before that day's incrementals: what the three restored
# must be the same tree.
OURS_TREE="$D/t/ours1/files/${D#/}/set"
for other in "$D/t/restic1$D/set" "$D/t/borg/${D#/}/set"; do
  if diff -r -q "$OURS_TREE" "$other" >/dev/null; then echo "restored trees agree: $OURS_TREE = $other"
  else echo "RESTORED TREES DIFFER: $OURS_TREE $other" >&2; exit 1; fi
done
rm -rf $D/t/*

mean() { python3 -c "import sys;xs=[float(x) for x in sys.argv[1:]];print('%.2f'%(sum(xs)/len(xs)))" $@; }
S_ours=$(du -sb $D/ours/repository | cut -f1); S_restic=$(du -sb $D/restic | cut -f1); S_borg=$(du -sb $D/borg | cut -f1)
Fo=$(mean ${FULL[ours]}); Fr=$(mean ${FULL[restic]}); Fb=$(mean ${FULL[borg]})
Io=$(mean ${INC[ours]}); Ir=$(mean ${INC[restic]}); Ib=$(mean ${INC[borg]})
RSS_ours=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
if [ "${OFFSITE:-0}" = 1 ]; then
  # Wait (bounded) for the queue to drain: every recorded object copied.
  for _ in $(seq 600); do
    pending=$(curl -sf http://127.0.0.1:$PORT/metrics | awk '/^backupd_remote_pending_objects/ {s += $2} END {print s + 0}')
    [ "$pending" = 0 ] && break
    sleep 0.5
  done
  OFF=$(du -sb $D/offsite | cut -f1)
  echo "off-site: $OFF bytes in the dir remote (pending objects: $pending), repository $(du -sb $D/ours/repository | cut -f1) bytes, ratio $(python3 -c "print('%.2f' % ($OFF / $(du -sb $D/ours/repository | cut -f1)))")"
fi
stop
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo
echo "== $DAYS days on $(numfmt --to=iec $LOGICAL) (1 % of files changed a day; a full and 5 incrementals a day) =="
printf '%-34s %12s %12s %12s %10s\n' "" ours restic borg "ours/restic"
printf '%-34s %12s %12s %12s %10s\n' "stored bytes" $S_ours $S_restic $S_borg $(ratio $S_ours $S_restic)
printf '%-34s %12s %12s %12s %10s\n' "day-2+ full, mean s" $Fo $Fr $Fb $(ratio $Fo $Fr)
printf '%-34s %12s %12s %12s %10s\n' "incremental, mean s" $Io $Ir $Ib $(ratio $Io $Ir)
printf '%-34s %12s %12s %12s %10s\n' "restore of the day-$DAYS full, median s" $R_ours $R_restic $R_borg $(ratio $R_ours $R_restic)
printf '%-34s %12s %12s %12s %10s\n' "peak RSS, MB" $((RSS_ours / 1024)) $(( $(cat $D/rss.restic) / 1024 )) $(( $(cat $D/rss.borg) / 1024 )) $(ratio $RSS_ours $(cat $D/rss.restic))
echo "(targets: stored <= 1.0x restic, full <= 0.5x, incremental <= 0.5x, restore <= 0.6x, RSS <= 200 MB)"

# ---- prune after PRUNE_DAYS simulated days: daily fulls, the oldest forgotten (keep the last 7) ----
start
for day in $(seq $((DAYS + 1)) $PRUNE_DAYS); do
  change $day 0 1
  secs daily_full_backup >/dev/null
  restic backup -q $D/set
  borg create ::full-$day $D/set
done
# What a 7-day retention deletes: every backup but the last 7 fulls (our incrementals too).
curl -sf "$B/backups?limit=1000" | python3 -c '
import json, sys
bs = sorted(json.load(sys.stdin)["backups"], key=lambda b: b["created_at"])
fulls = [b for b in bs if b["job_id"] == "daily_full_backup"]
keep = {b["id"] for b in fulls[-7:]}
print("\n".join(b["id"] for b in bs if b["id"] not in keep))' > $D/forget
while read -r id; do
  enc=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$id")
  # Dependants first with cascade; one already forgotten that way answers 404.
  curl -sf -XDELETE -H 'Content-Type: application/json' "$B/backups/$enc" -d '{"force":true,"cascade":true}' >/dev/null || true
done < $D/forget
BEFORE=$(du -sb $D/ours/repository | cut -f1)
echo "ours before the prune: $(curl -sf $B/scheduler/status | python3 -c 'import json,sys;print(json.load(sys.stdin)["storage"]["repository"])')"
P_ours=$(secs cleanup_expired)
AFTER=$(du -sb $D/ours/repository | cut -f1)
curl -sf "$B/runs?job_id=cleanup_expired&limit=1" | python3 -c 'import json,sys;print("ours prune note:", json.load(sys.stdin)["runs"][0]["note"])' || true
stop
P_restic=$(tv restic restic forget -q --keep-last 7 --prune)
s=$(date +%s.%N)
borg prune --keep-last 7 $BORG_REPO && borg compact $BORG_REPO
P_borg=$(python3 -c "print('%.2f'%($(date +%s.%N)-$s))")
echo
echo "== prune after $PRUNE_DAYS simulated days (keep the last 7 fulls) =="
printf '%-34s %12s %12s %12s\n' "" ours restic borg
printf '%-34s %12s %12s %12s\n' "prune, s" $P_ours $P_restic $P_borg
printf '%-34s %12s %12s %12s\n' "stored after, bytes" $AFTER $(du -sb $D/restic | cut -f1) $(du -sb $D/borg | cut -f1)
echo "(ours before the prune: $BEFORE bytes, repack_below $REPACK_BELOW; target: prune <= 2 s)"
