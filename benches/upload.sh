#!/usr/bin/env bash
# Issue 16's upload benchmark: replication of a full backup to a local S3 server (s3s-fs on
# 127.0.0.1), against `curl -T` of the same bytes to the same server (the transport's ceiling).
#
# The data: the mixed set of benches/dedup.sh (text, compressible binary, random, a SQL dump, two
# sparse images; SIZE_MB, default 500). The service (release build) backs it up into the
# repository without a remote and stops; it starts again with the S3 remote configured, and
# its queue uploads the backup (its packs and snapshot index): the replication time runs from
# its `service_booted` (after it, the bucket is listed, the log shipped and the objects
# uploaded) to the last `object_replicated` event's time, so neither the backup's own work nor
# the process's start is in it (with the remote configured during the backup, packs upload
# while the backup still runs).
# Then curl uploads the same files, CONC at a time as the queue does (`concurrency`, default 2),
# under another prefix. Prints both throughputs, the ratio (target >= 0.8) and the service's
# peak RSS while uploading (VmHWM of the second start; target <= 200 MB).
#
# Needs curl (7.75+, for --aws-sigv4), python3 and s3s-fs (`cargo install s3s-fs --version 0.14.1
# --features binary --locked`; S3S_FS overrides the path). Scratch goes under $D.
set -euo pipefail
D=${D:-/tmp/uploadbench}
SIZE_MB=${SIZE_MB:-500}
CONC=${CONC:-2}
PORT=${PORT:-18743}
S3PORT=${S3PORT:-18744}
KEY=AKIDbenchupload0001
SECRET=bench-secret-upload-16
S3S_FS=${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
cd "$(dirname "$0")/.."
REPO=$PWD
for tool in curl python3 "$S3S_FS"; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release -q
rm -rf $D
mkdir -p $D/s3/bench

source benches/lib.sh
gen $D/set $SIZE_MB

"$S3S_FS" --host 127.0.0.1 --port $S3PORT --access-key $KEY --secret-key $SECRET $D/s3 >$D/s3.log 2>&1 &
S3PID=$!
B=http://127.0.0.1:$PORT/api/backup
PID=
trap 'kill $S3PID ${PID:-} 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:$S3PORT/ && break; sleep 0.05; done

cat > $D/backupd.toml <<EOT
[storage]
data_dir = "$D/ours"
[scheduler]
timezone = "UTC"
autostart = false
[repository]
enabled = true
[[sources.files]]
name = "set"
path = "$D/set"
EOT
cat > $D/remote.toml <<EOT
[[remotes]]
name = "bench"
kind = "s3"
endpoint = "http://127.0.0.1:$S3PORT"
bucket = "bench"
prefix = "ours"
access_key_id_env = "BENCH_S3_KEY"
secret_access_key_env = "BENCH_S3_SECRET"
concurrency = $CONC
EOT
start() {
  BENCH_S3_KEY=$KEY BENCH_S3_SECRET=$SECRET \
    "$REPO"/target/release/backupd serve --config $D/backupd.toml --bind 127.0.0.1:$PORT 2>>$D/serve.err &
  PID=$!
  for _ in $(seq 200); do curl -sf $B/scheduler/status >/dev/null && return; sleep 0.05; done
  echo "the service did not start" >&2; exit 1
}
start
out=$(run daily_full_backup)
case "$out" in succeeded*) ;; *) echo "backup: $out" >&2; exit 1 ;; esac
echo "backup: $out"
kill $PID; wait $PID 2>/dev/null || true
cat $D/remote.toml >> $D/backupd.toml
T0=$(date +%s.%N)
start

# Waits until the backup's packs and snapshot index are replicated, then prints seconds from
# the start to the last object_replicated, the bytes and the objects replicated.
python3 - "$B" "$T0" <<'PY' > $D/ours.txt
import json, sys, time, urllib.request
from datetime import datetime
b = sys.argv[1]
def events():
    out, after = [], 0
    while True:
        page = json.load(urllib.request.urlopen(f"{b}/events?after={after}&limit=1000"))
        if not page["events"]:
            return out
        out += page["events"]
        after = page["events"][-1]["position"]
def at(e):
    t = next(e[k] for k in ("recorded_at", "at", "time", "timestamp") if k in e)
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
deadline = time.time() + 3600
while True:
    es = events()
    snap = [e for e in es if e["type"] == "snapshot_recorded"]
    keys = {e["data"]["key"] for e in es if e["type"] == "object_replicated"}
    packs = {e["data"]["pack"]["location"] for e in es if e["type"] == "pack_written"}
    failed = [e for e in es if e["type"] == "replication_failed"]
    snaps = {e["data"]["backup"]["location"] for e in snap}
    if snap and packs <= keys and snaps <= keys:
        break
    if time.time() > deadline:
        sys.exit(f"not replicated: {len(keys)} objects, failures {failed[-3:]}")
    time.sleep(0.2)
rep = [e for e in es if e["type"] == "object_replicated" and not e["data"]["key"].startswith(("reports/", "log/"))]
# From the boot of the service with the remote (it then lists the bucket, ships the log and
# uploads): the process's own start (loading the binary, opening the log) is not upload time.
booted = max(at(e) for e in es if e["type"] == "service_booted")
print("%.3f %d %d %.3f" % (max(map(at, rep)) - booted, sum(e["data"]["bytes"] for e in rep), len(rep),
                           booted - float(sys.argv[2])))
PY
read -r T_OURS BYTES N_OBJ T_START < $D/ours.txt
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
kill $PID; wait $PID 2>/dev/null || true; PID=

# curl -T of the same files (packs and snapshot index), CONC at a time, under another prefix.
ARGS=()
for f in $(cd $D/ours && find repository/packs repository/snapshots -type f); do
  ARGS+=(-T "$D/ours/$f" "http://127.0.0.1:$S3PORT/bench/curl/$f")
done
s=$(date +%s.%N)
curl -sf --no-progress-meter --parallel --parallel-max $CONC --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${ARGS[@]}" -o /dev/null
T_CURL=$(python3 -c "print('%.3f'%($(date +%s.%N)-$s))")
CURL_BYTES=$(du -sb --apparent-size $D/s3/bench/curl | cut -f1)

python3 - <<PY
b, n, t, tc, cb, rss = $BYTES, $N_OBJ, $T_OURS, $T_CURL, $CURL_BYTES, $RSS_KB
ours, curl = b / t / 1e6, b / tc / 1e6
print(f"== upload of a full backup of the {$SIZE_MB} MB mixed set to s3s-fs on 127.0.0.1 ({n} objects, {b} bytes; concurrency $CONC) ==")
print(f"backupd replication: {t:.2f} s, {ours:.1f} MB/s (service_booted with the remote -> last object_replicated; the process took {$T_START:.2f} s to boot)")
print(f"curl -T:             {tc:.2f} s, {curl:.1f} MB/s (in the bucket: {cb} bytes incl. s3s-fs's own files)")
print(f"ratio ours/curl:     {ours / curl:.2f} (target >= 0.8)")
print(f"peak RSS (VmHWM):    {rss // 1024} MB while uploading (target <= 200 MB)")
PY
