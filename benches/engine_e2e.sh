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
[restore]
allowed_targets = ["/tmp/e2e-restore"]
[[sources.files]]
path = "/tmp/e2e-src"
EOT
cd "$REPO"
./target/release/backupd serve --config $D/config.toml --bind 127.0.0.1:18740 2>$D/serve.err &
PID=$!
B=http://127.0.0.1:18740/api/backup
for _ in $(seq 50); do curl -sf $B/scheduler/status >/dev/null && break; sleep 0.1; done
source benches/lib.sh
sync
echo "tar|zstd -3 -T2 (1): $(t sh -c 'tar -cf - -C /tmp e2e-src | zstd -q -3 -T2 -o /tmp/e2e-ref.tar.zst -f') s"
echo "ours full: $(run daily_full_backup)"
echo "tar|zstd -3 -T2 (2): $(t sh -c 'tar -cf - -C /tmp e2e-src | zstd -q -3 -T2 -o /tmp/e2e-ref.tar.zst -f') s  size $(stat -c %s /tmp/e2e-ref.tar.zst)"
echo "ours incremental job, first run: $(run incremental_backup)"
change_one_percent /tmp/e2e-src
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
