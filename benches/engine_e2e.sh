#!/usr/bin/env bash
# Issue 6's end-to-end figures through the running service (release build, system clock), side by
# side with tar/zstd in one run: a full backup, an incremental after changing 1% of the files,
# a restore of that incremental through its chain, and the service's peak RSS.
# The set: `cargo bench --bench archive -- --assemble /tmp/backupd-bench-set` (~450 MB), or SET=DIR.
# Needs curl, python3, zstd, tar. Scratch goes under /tmp/e2e*.
set -euo pipefail
SET=${SET:-/tmp/backupd-bench-set}
cd "$(dirname "$0")/.."
cargo build --release -q
REPO=$PWD
D=/tmp/e2e; rm -rf $D /tmp/e2e-src /tmp/e2e-restore /tmp/e2e-ref; mkdir -p $D
cp -a "$SET" /tmp/e2e-src
cat > $D/config.toml <<EOT
[storage]
data_dir = "$D/data"
[scheduler]
timezone = "UTC"
[[sources.files]]
path = "/tmp/e2e-src"
EOT
cd "$REPO"
./target/release/backupd serve --config $D/config.toml --bind 127.0.0.1:18740 2>$D/serve.err &
PID=$!
B=http://127.0.0.1:18740/api/backup
for _ in $(seq 50); do curl -sf $B/scheduler/status >/dev/null && break; sleep 0.1; done
run() { # job -> prints duration_ms and backup_id
  rid=$(curl -sf -XPOST $B/scheduler/jobs/$1/run | python3 -c 'import json,sys;print(json.load(sys.stdin)["run_id"])')
  enc=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$rid")
  while :; do s=$(curl -sf $B/runs/$enc); st=$(echo "$s" | python3 -c 'import json,sys;print(json.load(sys.stdin)["status"])'); [ "$st" != running ] && break; sleep 0.05; done
  echo "$s" | python3 -c 'import json,sys;r=json.load(sys.stdin);print(r["status"],r["duration_ms"],r.get("backup_id"),r.get("note"))'
}
t() { local s=$(date +%s.%N); "$@"; python3 -c "print('%.2f'%($(date +%s.%N)-$s))"; }
sync
echo "tar|zstd -3 -T2 (1): $(t sh -c 'tar -cf - -C /tmp e2e-src | zstd -q -3 -T2 -o /tmp/e2e-ref.tar.zst -f') s"
echo "ours full: $(run daily_full_backup)"
echo "tar|zstd -3 -T2 (2): $(t sh -c 'tar -cf - -C /tmp e2e-src | zstd -q -3 -T2 -o /tmp/e2e-ref.tar.zst -f') s  size $(stat -c %s /tmp/e2e-ref.tar.zst)"
echo "ours incremental job, first run: $(run incremental_backup)"
# change 1% of the files (every 100th regular file, smaller than 10 MB: appended bytes)
python3 - <<'PY'
import os
files=[]
for root,dirs,fs in os.walk('/tmp/e2e-src'):
    for f in fs:
        p=os.path.join(root,f)
        if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 10_000_000: files.append(p)
files.sort(); ch=files[::100]
for p in ch:
    with open(p,'ab') as fh: fh.write(b'changed\n')
print(len(files),'files,',len(ch),'changed')
PY
echo "ours incremental: $(run incremental_backup)"
BID=$(curl -sf "$B/backups?job_id=incremental_backup&limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
ls -la $D/data/backups/*.bka | awk '{print $5, $9}'
mkdir -p /tmp/e2e-ref
# Flush what earlier steps left dirty, so neither restore pays for the other's writeback.
sync
echo "restore ours: $(t curl -sf -XPOST -H 'Content-Type: application/json' $B/backups/$BID/restore -d '{"target":"/tmp/e2e-restore"}' -o /dev/null) s"
sync
echo "zstd -dc -T2 | tar -x: $(t sh -c 'zstd -dc -T2 /tmp/e2e-ref.tar.zst | tar -x -C /tmp/e2e-ref') s"
grep VmHWM /proc/$PID/status
kill -TERM $PID; wait $PID || true
diff -r --no-dereference /tmp/e2e-src /tmp/e2e-restore/files/tmp/e2e-src >/dev/null && echo "restore identical to the source (diff -r clean)" || echo "DIFF in restore"
