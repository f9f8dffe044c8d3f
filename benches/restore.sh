#!/usr/bin/env bash
# Issue 13's restore and browse figures through the running service (release build), side by side
# with restic (`restic restore --include`, `restic ls`, `restic dump`) on the same data in one run.
# restic encrypts by design; backupd seals archives only with [encryption] configured, which this
# bench leaves off (benches/sealed.sh measures sealed ones): restic's times include that, ours do not.
# The data: the ~450 MB mixed set (`cargo bench --bench archive -- --assemble DIR`, or SET=DIR)
# plus a flat directory of 100,000 empty files. Needs curl, python3 and restic
# (apt-get install restic). Scratch goes under /tmp/rbench. Each figure is the median of 5.
set -euo pipefail
SET=${SET:-/tmp/backupd-bench-set}
cd "$(dirname "$0")/.."
[ -d "$SET" ] || cargo bench --bench archive -- --assemble "$SET"
cargo build --release -q
REPO=$PWD
D=/tmp/rbench
rm -rf $D
mkdir -p $D/t
cp -a "$SET" $D/set
python3 - $D/flat <<'PY'
import os, sys
os.mkdir(sys.argv[1])
for i in range(100_000):
    open(os.path.join(sys.argv[1], f"f{i:06}"), "w").close()
PY
# Two services: the mixed set alone (the restore figures: one file out of ~450 MB), and the flat
# directory alone (the browse figures), each beside a restic repository of the same data.
for which in set flat; do
  cat > $D/$which.toml <<EOT
[storage]
data_dir = "$D/data-$which"
[scheduler]
timezone = "UTC"
[[sources.files]]
path = "$D/$which"
[restore]
allowed_targets = ["$D/t"]
EOT
done
PORT=18741
B=http://127.0.0.1:$PORT/api/backup
start() { # set|flat
  "$REPO"/target/release/backupd serve --config $D/$1.toml --bind 127.0.0.1:$PORT 2>>$D/serve.err &
  PID=$!
  for _ in $(seq 100); do curl -sf $B/scheduler/status >/dev/null && return; sleep 0.05; done
  echo "the service did not start" >&2; exit 1
}
stop() { kill $PID; wait $PID 2>/dev/null || true; }
trap 'kill $PID 2>/dev/null || true' EXIT
source benches/lib.sh

# ms CMD...: CMD's wall time in milliseconds (output discarded).
ms() { local s; s=$(date +%s%N); "$@" >/dev/null; echo $((($(date +%s%N) - s) / 1000000)); }
# median5 NAME CMD...: runs CMD 5 times (with I=1..5, which names a fresh target), prints the median.
median5() {
  local name=$1; shift
  local xs=()
  for I in 1 2 3 4 5; do xs+=("$(ms "$@")"); done
  printf '%-44s %6s ms   (runs: %s)\n' "$name" "$(printf '%s\n' "${xs[@]}" | sort -n | sed -n 3p)" "${xs[*]}"
}

start set
echo "ours full backup of the set: $(run daily_full_backup)"
BID=$(curl -sf "$B/backups?job_id=daily_full_backup&limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$D/restic-flat
restic init -q
restic backup -q $D/flat
export RESTIC_REPOSITORY=$D/restic-set
restic init -q
echo "restic backup of the set: $(t restic backup -q $D/set) s"
du -sh $D/data-set/backups $D/restic-set | sed 's/^/size: /'

# One small file deep in the set, and two directories of it.
ONE=$(find $D/set -type f -size -64k | sort | sed -n 10p)
DIR1=$(find $D/set -mindepth 1 -maxdepth 1 -type d | sort | sed -n 1p)
DIR2=$(find $D/set -mindepth 1 -maxdepth 1 -type d | sort | sed -n 2p)
echo "one file: $ONE ($(stat -c %s "$ONE") bytes); dirs: $DIR1, $DIR2"

ours_restore() { # PATHS_JSON NAME
  curl -sf -XPOST -H 'Content-Type: application/json' "$B/backups/$BID/restore" \
    -d "{\"target\":\"$D/t/ours-$2\",\"paths\":$1}"
}
ours_one() { ours_restore "[\"$ONE\"]" "one-$I"; }
ours_two() { ours_restore "[\"$DIR1\",\"$DIR2\"]" "two-$I"; }
ours_all() { ours_restore '[]' "all-$I"; }
restic_one() { restic restore -q latest --include "$ONE" --target "$D/t/restic-one-$I"; }
restic_two() { restic restore -q latest --include "$DIR1" --include "$DIR2" --target "$D/t/restic-two-$I"; }
restic_all() { restic restore -q latest --target "$D/t/restic-all-$I"; }
sync
median5 "restore 1 file, ours" ours_one
median5 "restore 1 file, restic --include" restic_one
cmp "$ONE" "$D/t/ours-one-1/files$ONE"
cmp "$ONE" "$D/t/restic-one-1$ONE"
median5 "restore 2 directories, ours" ours_two
median5 "restore 2 directories, restic --include" restic_two
rm -rf $D/t/*
for i in 1 2; do
  sync
  I=$i
  echo "restore everything, ours ($i):   $(ms ours_all) ms"
  rm -rf $D/t/*; sync
  echo "restore everything, restic ($i): $(ms restic_all) ms"
  rm -rf $D/t/*
done

# Browsing: the first page right after a restart (the worst case: the tree that serve builds ahead
# at start is still being built, and the page waits for it), later pages,
# and the same directory with restic (which has no pages: it lists the whole directory).
FLAT=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$D/flat")
page() { curl -sf "$B/backups/$FBID/files?path=$FLAT&limit=${2:-1000}${1:+&after=$1}"; }
DIR1_ENC=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$DIR1")
page_of() { curl -sf "$B/backups/$BID/files?path=$1"; }
median5 "list a top directory of the set, ours" page_of "$DIR1_ENC"
stop
start flat
echo "ours full backup of the flat dir: $(run daily_full_backup)"
FBID=$(curl -sf "$B/backups?job_id=daily_full_backup&limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
for i in 1 2 3; do
  stop; sync; start flat
  echo "first page of 1,000 of the 100,000-entry dir after a restart ($i): $(ms page) ms"
done
median5 "a later page of 1,000, ours" page f050000
median5 "a page of 10,000, ours" page f050000 10000
median5 "list the 100,000-entry dir, restic ls" env RESTIC_REPOSITORY=$D/restic-flat restic ls -q latest "$D/flat"
stop
start set
one_enc=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$ONE")
range() { curl -sf -H 'Range: bytes=0-1023' "$B/backups/$BID/files/content?path=$one_enc"; }
median5 "download 1 KiB of one file (Range), ours" range
median5 "dump one file, restic dump" restic dump -q latest "$ONE"
stop
