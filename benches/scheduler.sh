#!/usr/bin/env bash
# Scheduler and API figures of issue 3, on the release binary with the system clock:
#   fire lateness (run_started.recorded_at - slot) over N fires of a 2-second interval job,
#   CPU ticks of an idle service over 60 s, and wrk against GET scheduler/jobs.
# Usage: bash benches/scheduler.sh   (needs curl, python3, wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
dir=$(mktemp -d)
port=${PORT:-18720}
base=http://127.0.0.1:$port/api/backup
./target/release/backupd serve --config fixtures/demo.toml --data-dir "$dir" --bind 127.0.0.1:$port 2>"$dir/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "$base/scheduler/status" >/dev/null && break; sleep 0.1; done

curl -sf -XPOST -H 'Content-Type: application/json' "$base/scheduler/jobs" \
  -d '{"id":"tick","name":"Tick","trigger_type":"interval","trigger_config":{"seconds":2},"backup_config":{"type":"database"}}' >/dev/null
sleep "${FIRE_SECONDS:-46}"
curl -sf -XPOST "$base/scheduler/jobs/tick/pause" >/dev/null
curl -sf "$base/events?after=0&limit=1000" >"$dir/events.json"
python3 - "$dir/events.json" <<'PY'
import json, sys, datetime
def t(s):
    s = s.replace('Z', '+00:00')
    main, _, rest = s.partition('.')
    frac, tz = (rest[:-6], rest[-6:]) if rest else ('0', main[-6:])
    if not rest: main = main[:-6]
    return datetime.datetime.fromisoformat(main + tz).timestamp() + int(frac.ljust(9, '0')[:9]) / 1e9
ev = json.load(open(sys.argv[1]))['events']
lat = sorted((t(e['recorded_at']) - t(e['data']['slot'])) * 1000 for e in ev
             if e['type'] == 'run_started' and e['data']['job_id'] == 'tick' and e['data']['slot'])
n = len(lat)
print(f"fire lateness over {n} fires: p50 {lat[n//2]:.2f} ms, p99 {lat[min(n-1, round(0.99*(n-1)))]:.2f} ms, max {lat[-1]:.2f} ms")
PY

t0=$(awk '{print $14+$15}' /proc/$pid/stat); sleep 60; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "idle service: $((t1 - t0)) CPU ticks in 60 s (1 tick = 1/$(getconf CLK_TCK) s)"

wrk -t2 -c16 -d10s --latency "$base/scheduler/jobs" | grep -E 'Requests/sec|^ +(50|99)%'
