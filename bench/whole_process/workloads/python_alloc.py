"""Allocation-heavy Python for the whole-process benchmark: run with
PYTHONMALLOC=malloc (every object is a malloc) and PYTHONHASHSEED=0.

Builds records (dicts of strings, ints, lists), indexes and groups them,
round-trips them through json, formats and parses text, and throws most of
it away again, several times. Prints a checksum of what it computed.
"""
import hashlib
import json
import random
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rng = random.Random(12345)
WORDS = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 12)))
         for _ in range(5000)]
digest = hashlib.sha256()


def record(i):
    return {
        "id": i,
        "name": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))),
        "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 6))],
        "score": rng.randint(0, 10**6) / 7.0,
        "counts": {w: rng.randint(1, 100) for w in rng.sample(WORDS, rng.randint(0, 5))},
    }


rounds = max(1, round(2 * scale))
for r in range(rounds):
    records = [record(i) for i in range(40000)]
    # Index and group: dicts of lists, set membership, sorting by keys.
    by_tag = {}
    for rec in records:
        for tag in rec["tags"]:
            by_tag.setdefault(tag, []).append(rec["id"])
    top = sorted(by_tag.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:50]
    digest.update(repr([(k, len(v)) for k, v in top]).encode())
    totals = {}
    for rec in records:
        for word, n in rec["counts"].items():
            totals[word] = totals.get(word, 0) + n
    digest.update(repr(sorted(totals.items())[:100]).encode())
    # json round trip: one big document, then one string per record.
    text = json.dumps(records, sort_keys=True)
    back = json.loads(text)
    digest.update(str(len(text)).encode())
    lines = [json.dumps(rec, sort_keys=True) for rec in back[::2]]
    parsed = [json.loads(line) for line in lines]
    digest.update(str(sum(len(p["name"]) for p in parsed)).encode())
    # Text: formatting, splitting, joining, replacing.
    report = "\n".join(f"{rec['id']:08d}|{rec['name']}|{','.join(rec['tags'])}|{rec['score']:.3f}" for rec in records)
    fields = [line.split("|") for line in report.splitlines()]
    words = {}
    for f in fields:
        for w in f[1].split():
            words[w] = words.get(w, 0) + 1
    upper = [f[1].upper().replace("A", "aa") for f in fields[::3]]
    digest.update("".join(upper[:200]).encode())
    digest.update(repr(sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:20]).encode())
    # Churn: a cache of tuples and small lists, most entries short-lived.
    cache = {}
    for i in range(150000):
        key = (rng.randrange(20000), rng.choice(WORDS))
        if key in cache:
            cache[key].append(i)
            if len(cache[key]) > 8:
                del cache[key]
        else:
            cache[key] = [i, str(i)]
    digest.update(str(len(cache)).encode())
    del records, by_tag, text, back, lines, parsed, report, fields, words, upper, cache

print("python checksum", digest.hexdigest()[:16])
