# Shared by the service benchmarks (source it after setting B, the API base URL).

# run JOB: runs the job now, waits for its outcome, prints status, duration, backup id and note.
run() {
  rid=$(curl -sf -XPOST $B/scheduler/jobs/$1/run | python3 -c 'import json,sys;print(json.load(sys.stdin)["run_id"])')
  enc=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=''))" "$rid")
  while :; do s=$(curl -sf $B/runs/$enc); st=$(echo "$s" | python3 -c 'import json,sys;print(json.load(sys.stdin)["status"])'); [ "$st" != running ] && break; sleep 0.05; done
  echo "$s" | python3 -c 'import json,sys;r=json.load(sys.stdin);print(r["status"],r["duration_ms"],"ms",r.get("backup_id"),r.get("note"))'
}

# t CMD...: runs CMD, prints its wall time in seconds.
t() { local s=$(date +%s.%N); "$@"; python3 -c "print('%.2f'%($(date +%s.%N)-$s))"; }

# change_one_percent DIR: appends bytes to every 100th regular file under 10 MB.
change_one_percent() {
  python3 - "$1" <<'PY'
import os,sys
files=[]
for root,dirs,fs in os.walk(sys.argv[1]):
    for f in fs:
        p=os.path.join(root,f)
        if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 10_000_000: files.append(p)
files.sort(); ch=files[::100]
for p in ch:
    with open(p,'ab') as fh: fh.write(b'changed\n')
print(len(files),'files,',len(ch),'changed')
PY
}
