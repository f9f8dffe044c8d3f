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

# gen DIR MB: the ~MB mixed set of the repository and upload benches (text, compressible binary,
# random, a SQL dump, two sparse images), deterministic (seeded) but for the random part.
gen() {
  python3 - "$1" "$2" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(15)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
corpus = ' '.join(rng.choice(words) for _ in range(400_000)).encode()
def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f: f.write(data)
scale = mb / 500
# text: ~120 MB of documents cut from a corpus
for i in range(int(2400 * scale)):
    n = rng.randint(10_000, 90_000); o = rng.randrange(len(corpus) - n)
    put(f"{root}/text/d{i % 40:02}/doc{i:05}.txt", f"document {i}\n".encode() + corpus[o:o + n])
# compressible binary: ~150 MB of records (random fields in a fixed layout)
for i in range(int(300 * scale)):
    n = rng.randint(100_000, 900_000) // 16
    put(f"{root}/bin/b{i % 10}/rec{i:04}.dat", b''.join(rng.getrandbits(32).to_bytes(4, 'little') + b'\0' * 8 + (i % 251).to_bytes(4, 'little') for _ in range(n)))
# random: ~100 MB
for i in range(int(20 * scale)):
    put(f"{root}/random/r{i:02}.bin", os.urandom(5 << 20))
# a SQL dump: ~80 MB
os.makedirs(f"{root}/db", exist_ok=True)
os.makedirs(f"{root}/img", exist_ok=True)
with open(f"{root}/db/app.sql", 'wb') as f:
    for i in range(int(900_000 * scale)):
        f.write(f"INSERT INTO t VALUES ({i},'user {i}','user{i}@example.com',{(i * 137) % 100000 / 100},'note {rng.getrandbits(40):x}');\n".encode())
# two sparse images: ~50 MB, mostly zeros with random blocks
for i in range(2):
    with open(f"{root}/img/disk{i}.img", 'wb') as f:
        for b in range(int(400 * scale)):
            f.write(os.urandom(16384) if rng.random() < 0.3 else b'\0' * 65536)
PY
  du -sh "$1"
}
