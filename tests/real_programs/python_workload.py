"""A deterministic stdlib workload for the real-program suite, meant to run
with PYTHONMALLOC=malloc so that every Python object is a malloc block:
json round-trips, threads and a queue, subprocesses (one of them started
while other threads allocate, with a preexec_fn that allocates in the fork
child), hashlib, zlib, re, sqlite3 and decimal. Prints only results that do
not depend on timing or scheduling."""
import collections
import decimal
import hashlib
import json
import queue
import random
import re
import sqlite3
import subprocess
import sys
import threading
import zlib

rng = random.Random(20261124)


def digest(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()[:16]


def make_document(depth):
    if depth == 0:
        return rng.choice([rng.random(), rng.randrange(-10**12, 10**12), "x" * rng.randrange(40), None, True])
    if rng.random() < 0.5:
        return [make_document(depth - 1) for _ in range(rng.randrange(1, 6))]
    return {"k%d" % rng.randrange(1000): make_document(depth - 1) for _ in range(rng.randrange(1, 6))}


# json: 300 nested documents, each dumped, parsed and dumped again.
documents = [make_document(5) for _ in range(300)]
texts = [json.dumps(d, sort_keys=True) for d in documents]
assert all(json.dumps(json.loads(t), sort_keys=True) == t for t in texts)
print("json", len(texts), sum(map(len, texts)), digest("".join(texts)))

# threads: four workers hash items from a queue; a big shared dict under a lock.
work = queue.Queue()
results = queue.Queue()
shared = {}
shared_lock = threading.Lock()


def worker(number):
    while True:
        item = work.get()
        if item is None:
            return
        value = hashlib.sha512(item).digest()
        chunk = [value * (1 + i % 7) for i in range(50)]
        with shared_lock:
            shared[item[:12]] = len(chunk)
        results.put((item, digest(b"".join(chunk))))


threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for i in range(4000):
    work.put(b"item-%06d-" % i + bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
for _ in threads:
    work.put(None)
for t in threads:
    t.join()
pairs = sorted(results.get() for _ in range(4000))
print("threads", len(pairs), len(shared), digest("".join(h for _, h in pairs)))


# subprocess: a child Python that allocates, started with a preexec_fn that
# allocates in the fork child (between fork and exec), while four threads of
# this process keep allocating and freeing.
def preexec():
    junk = [str(i) * 10 for i in range(20000)]
    json.dumps(junk)


CHILD = (
    "import sys, json, collections\n"
    "words = ['w%d' % (i * 7919 % 5003) for i in range(200000)]\n"
    "c = collections.Counter(words)\n"
    "print(len(c), c.most_common(3), len(json.dumps(c, sort_keys=True)))\n"
)

stop = threading.Event()


def churn():
    while not stop.is_set():
        junk = {i: [i] * (i % 13) for i in range(2000)}
        del junk


churners = [threading.Thread(target=churn) for _ in range(4)]
for t in churners:
    t.start()
outputs = []
try:
    for i in range(12):
        done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                              preexec_fn=preexec if i % 2 == 0 else None, timeout=60)
        outputs.append(done.stdout)
finally:
    stop.set()
    for t in churners:
        t.join()
print("subprocess", len(outputs), len(set(outputs)), outputs[0].strip())
shell = subprocess.run("printf 'b\\na\\nc\\na\\n' | sort | uniq -c", shell=True, capture_output=True, text=True, check=True)
print("shell", shell.stdout.split())

# zlib, re, collections.
blob = "".join(texts).encode()
packed = zlib.compress(blob, 9)
assert zlib.decompress(packed) == blob
print("zlib", len(blob), digest(zlib.decompress(packed)))
numbers = re.findall(r"-?\d+\.\d{3,}", "".join(texts))
print("re", len(numbers), collections.Counter(n[:3] for n in numbers).most_common(3))

# sqlite3 (the module, on libsqlite3) in memory.
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, doc TEXT)")
db.executemany("INSERT INTO t(name, doc) VALUES (?, ?)", (("n%d" % (i % 97), t) for i, t in enumerate(texts * 20)))
print("sqlite3", db.execute("SELECT count(*), count(DISTINCT name), sum(length(doc)) FROM t").fetchone(),
      db.execute("SELECT name, count(*) FROM t GROUP BY name ORDER BY count(*) DESC, name LIMIT 2").fetchall())
db.close()

# decimal: big-number arithmetic, each digit string a fresh object.
decimal.getcontext().prec = 2000
print("decimal", digest(str(decimal.Decimal(2).sqrt() * decimal.Decimal(3).ln())))
