#!/usr/bin/env bash
# Issue 4's figures through the running service (release build, system clock): the weekly archive
# of a full + incremental chain against `tar | xz -9 -T2` of the same tree, the archive's restore
# against the chain's (diff -r), and the durations of a cleanup, a health check, a daily report
# and a /metrics scrape.
# The set: `cargo bench --bench archive -- --assemble /tmp/backupd-bench-set` (~450 MB), or SET=DIR.
# Needs curl, python3, xz, tar. Scratch goes under /tmp/mnt*.
set -euo pipefail
SET=${SET:-/tmp/backupd-bench-set}
cd "$(dirname "$0")/.."
cargo build --release -q
REPO=$PWD
D=/tmp/mnt; rm -rf $D /tmp/mnt-src /tmp/mnt-ref.tar.xz; mkdir -p $D
cp -a "$SET" /tmp/mnt-src
cat > $D/config.toml <<EOT
[storage]
data_dir = "$D/data"
[scheduler]
timezone = "UTC"
autostart = false
[restore]
allowed_targets = ["/tmp/mnt-r1", "/tmp/mnt-r2"]
[[sources.files]]
path = "/tmp/mnt-src"
EOT
./target/release/backupd serve --config $D/config.toml --bind 127.0.0.1:18741 2>$D/serve.err &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
ROOT=http://127.0.0.1:18741
B=$ROOT/api/backup
for _ in $(seq 50); do curl -sf $B/scheduler/status >/dev/null && break; sleep 0.1; done
source benches/lib.sh
echo "full: $(run daily_full_backup)"
change_one_percent /tmp/mnt-src
echo "incremental: $(run incremental_backup)"
sync
echo "weekly archive (xz 9, chain merged): $(run weekly_archive)"
sync
echo "tar | xz -9 -T2: $(t sh -c 'tar -cf - -C /tmp mnt-src | xz -9 -T2 > /tmp/mnt-ref.tar.xz') s, $(stat -c %s /tmp/mnt-ref.tar.xz) bytes"
curl -sf "$B/backups?kind=archive" | python3 -c 'import json,sys;b=json.load(sys.stdin)["backups"][0];print("archive",b["id"],b["size"],"bytes")'
AID=$(curl -sf "$B/backups?kind=archive" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
IID=$(curl -sf "$B/backups?kind=incremental" | python3 -c 'import json,sys;print(json.load(sys.stdin)["backups"][0]["id"])')
rm -rf /tmp/mnt-r1 /tmp/mnt-r2
curl -sf -XPOST -H 'Content-Type: application/json' $B/backups/$AID/restore -d '{"target":"/tmp/mnt-r1"}' -o /dev/null
curl -sf -XPOST -H 'Content-Type: application/json' $B/backups/$IID/restore -d '{"target":"/tmp/mnt-r2"}' -o /dev/null
diff -r --no-dereference /tmp/mnt-r1 /tmp/mnt-r2 >/dev/null && echo "archive restore == chain restore (diff -r clean)" || echo "DIFF between archive and chain restores"
echo "cleanup: $(run cleanup_expired)"
echo "health: $(run health_check)"
echo "report: $(run daily_report)"
echo "GET /metrics: $(curl -s -o /dev/null -w '%{time_total}' $ROOT/metrics) s; GET health: $(curl -s -o /dev/null -w '%{time_total}' $B/health) s; GET retention/preview: $(curl -s -o /dev/null -w '%{time_total}' $B/retention/preview) s"
grep VmHWM /proc/$PID/status
