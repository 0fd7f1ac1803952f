#!/usr/bin/env python3
"""Ratio tables from secbits_pool_bench's JSON output (--benchmark_format=json).

    python3 bench/pool_report.py RESULTS.json [MORE.json ...] [--commit TEXT]
        [--processes processes.txt] [--save MERGED.json]

Several files are merged: the repetitions of a benchmark found in several
files are pooled. scripts/bench.sh runs the binary once per repetition under
each page source, anonymous and secret in turn (under --source=secret it runs
the secbits benchmarks only, named secbits_c_secret and secbits_cpp_secret),
and saves the merged results (--save) with each process's wall time and the
CPU other processes used meanwhile (--processes: lines of "source wall user
sys other-cores"), so that the merged file gives the same tables again. The
secret source gets rows of its own next to the anonymous one, and a table of
secret time / anonymous time per pattern.

Benchmarks are named <pattern>/<allocator>/<bytes>[/...]. The cost of one
alloc+free pair, as one thread sees it, is real_time * threads / pairs: Google
Benchmark divides the wall time of a threaded run by the iterations of all its
threads, and the `pairs` counter is the number of pairs one thread makes per
iteration. With --benchmark_repetitions the median of the repetitions is used
(--stat min: the fastest repetition, less sensitive to other processes).
Output is Markdown, so that it can go into bench/README.md as it is.
"""
import argparse
import json
import math
import statistics
import sys

PATTERNS = {
    "a": "a: alloc-then-free, one object at a time",
    "b": "b: 1,000 live objects, freed in random order",
    "c": "c: pattern b on 2 threads at once (cost per pair seen by one thread)",
}
SECBITS = ["secbits_c", "secbits_cpp"]
PEERS = ["glibc", "jemalloc", "botan", "openssl", "sodium"]
# The same benchmarks under the secret page source (memfd_secret), from a second process.
SECRET = {"secbits_c": "secbits_c_secret", "secbits_cpp": "secbits_cpp_secret"}
ALLOCATORS = SECBITS + PEERS
LABELS = {
    "secbits_c": "secbits C (`secbits_malloc`/`secbits_free`)",
    "secbits_cpp": "secbits C++ (`secure_new<T>`/`secure_delete`)",
    "secbits_c_secret": "secbits C, secret source",
    "secbits_cpp_secret": "secbits C++, secret source",
    "glibc": "glibc (`__libc_malloc`/`__libc_free`)",
    "jemalloc": "jemalloc (`mallocx`/`dallocx`)",
    "botan": "Botan 2 (`mlock_allocator`)",
    "openssl": "OpenSSL (`CRYPTO_secure_malloc`)",
    "sodium": "libsodium (`sodium_malloc`)",
}
SMALL_LIMIT = 1024  # the targets are geometric means over 16 B .. 1 KiB

# (pattern, peer, minimum peer_ns / secbits_ns, wording)
TARGETS = [
    ("a", "sodium", 1000.0, "at least 1,000x faster than sodium_malloc"),
    ("a", "openssl", 20.0, "at least 20x faster than OpenSSL's secure heap"),
    ("a", "botan", 3.0, "at least 3x faster than Botan"),
    ("a", "jemalloc", 0.5, "within 2x of jemalloc"),
    ("b", "openssl", 5.0, "at least 5x faster than OpenSSL"),
    ("b", "botan", 2.0, "at least 2x faster than Botan"),
    ("b", "jemalloc", 0.5, "within 2x of jemalloc"),
]
SCALING_LIMIT = 1.5  # pattern c per pair / pattern b per pair

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


def fmt_ratio(r):
    if r is None:
        return "n/a"
    if r >= 100:
        return f"{r:,.0f}×"
    return f"{r:.3g}×"


def fmt_speed(r):
    """peer time / secbits time, in words."""
    if r >= 1:
        return f"{fmt_ratio(r)} faster"
    return f"{fmt_ratio(1 / r)} slower"


def read_files(paths):
    """The contexts (one per file) and all the benchmark runs of the files."""
    contexts, runs = [], []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        contexts.append(data.get("context", {}))
        runs += data.get("benchmarks", [])
    return contexts, runs


def load(contexts, runs, stat):
    samples = {}  # (pattern, allocator, size) -> [ns per pair]
    flips = {}  # same -> [secbits protection flips per pair]
    medians = {}  # same, from "median" aggregates (used when iteration runs are absent)
    errors = {}
    for run in runs:
        parts = run.get("run_name", run["name"]).split("/")
        if len(parts) < 3 or parts[0] not in PATTERNS:
            continue
        key = (parts[0], parts[1], int(parts[2]))
        if run.get("error_occurred"):
            errors[key] = run.get("error_message", "error")
            continue
        pairs = run.get("pairs")
        if not pairs:
            continue
        ns = run["real_time"] * TO_NS[run.get("time_unit", "ns")] * run.get("threads", 1) / pairs
        if "flips_per_pair" in run and run.get("run_type") != "aggregate":
            flips.setdefault(key, []).append(run["flips_per_pair"])
        if run.get("run_type") == "aggregate":
            if run.get("aggregate_name") == "median":
                medians[key] = ns
        else:
            samples.setdefault(key, []).append(ns)
    result = {key: stat(v) for key, v in samples.items()}
    for key, ns in medians.items():
        result.setdefault(key, ns)
    repetitions = max((len(v) for v in samples.values()), default=1)
    flips = {key: statistics.median(v) for key, v in flips.items()}
    return contexts, result, errors, repetitions, flips


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="results files; the first one's context heads the report")
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="how repetitions are summarised (default: median)")
    parser.add_argument("--wall", type=float, action="append", default=[],
                        help="seconds the run took (once per results file, in order)")
    parser.add_argument("--other-cores", type=float, action="append", default=[],
                        help="CPU used by other processes during the run, in cores (once per results file)")
    parser.add_argument("--processes", help='file of lines "source wall user sys other-cores", one per process')
    parser.add_argument("--save", help="write the merged results (and --processes) to this JSON file")
    args = parser.parse_args()
    stat = statistics.median if args.stat == "median" else min
    contexts, runs = read_files(args.json)
    # The first anonymous process's context heads the report.
    contexts.sort(key=lambda c: c.get("secbits_page_source", "anonymous") != "anonymous")
    processes = [p for c in contexts for p in c.get("secbits_bench_processes", [])]
    if args.processes:
        with open(args.processes) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 5:
                    processes.append({"source": fields[0], "wall": float(fields[1]), "user": float(fields[2]),
                                      "sys": float(fields[3]), "other_cores": float(fields[4])})
    for i, wall in enumerate(args.wall):
        source = contexts[i].get("secbits_page_source", "anonymous") if i < len(contexts) else "?"
        others = args.other_cores[i] if i < len(args.other_cores) else 0.0
        processes.append({"source": source, "wall": wall, "other_cores": others})
    if args.save:
        merged_context = dict(contexts[0], secbits_bench_processes=processes)
        with open(args.save, "w") as f:
            json.dump({"context": merged_context, "benchmarks": runs}, f, indent=1)
    _, ns, errors, repetitions, flips = load(contexts, runs, stat)
    context = contexts[0]
    if not ns:
        sys.exit(f"pool_report: no results in {', '.join(args.json)}")
    # The secret source's rows and tables, when a file had them.
    secret = {mine: SECRET[mine] for mine in SECBITS if any(a == SECRET[mine] for (_, a, _) in ns)}
    shown = SECBITS + [secret[m] for m in SECBITS if m in secret] + PEERS

    sizes = sorted({size for (_, _, size) in ns} | {size for (_, _, size) in errors})
    small = [s for s in sizes if s <= SMALL_LIMIT]

    print(f"Date {context.get('date', '?')}, host {context.get('host_name', '?')}, "
          f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
          f"load average {', '.join(f'{x:.2f}' for x in context.get('load_avg', []))}, commit {args.commit}, "
          f"{repetitions} repetition(s), {args.stat}.")
    by_source = {}
    for p in processes:
        by_source.setdefault(p["source"], []).append(p)
    for source, group in by_source.items():
        wall = sum(p["wall"] for p in group)
        others = sum(p["other_cores"] * p["wall"] for p in group) / wall if wall > 0 else 0.0
        spread = ""
        if len(group) > 1:
            spread = (f" ({min(p['other_cores'] for p in group):.2f}–{max(p['other_cores'] for p in group):.2f} "
                      f"per process)")
        which = f"{len(group)} process{'es' if len(group) > 1 else ''} under the {source} page source"
        if len(by_source) == 1 and len(group) == 1:
            which = "Run"
        print(f"{which} took {wall:.0f} s{' in all' if len(group) > 1 else ''}; other processes used "
              f"{others:.2f} cores on average meanwhile{spread}.  ")
    busiest = max((p["other_cores"] for p in processes), default=0.0)
    if busiest > 0.2:
        print(f"**Warning: the machine was not idle (up to {busiest:.2f} cores busy elsewhere); the figures, "
              f"pattern c (two threads) above all, are skewed. Run again on a quiet machine.**  ")
    for key in ("openssl_secure_heap", "botan_mlock_pool_bytes", "batch_objects_per_thread", "process_malloc"):
        if key in context:
            print(f"{key}: {context[key]}  ")
    if secret:
        print("secbits page sources: anonymous (secbits_c, secbits_cpp) and secret (memfd_secret; "
              f"{', '.join(secret.values())}), each in processes of its own  ")
    print()

    def cost(pattern, allocator, size):
        return ns.get((pattern, allocator, size))

    def ratio(pattern, peer, mine, size):
        p, m = cost(pattern, peer, size), cost(pattern, mine, size)
        return p / m if p and m else None

    def small_geomean_ratio(pattern, peer, mine):
        """Geometric mean over the 16 B .. 1 KiB sizes both allocators served."""
        served = [s for s in small if cost(pattern, peer, s) and cost(pattern, mine, s)]
        if not served:
            return None, served
        return geomean([ratio(pattern, peer, mine, s) for s in served]), served

    def span(served):
        if served == small:
            return ""
        return f" ({served[0]}–{served[-1]} B)" if served else ""

    size_header = " | ".join(f"{s} B" if s < 1024 else f"{s // 1024} KiB" for s in sizes)
    size_rule = "|".join("---:" for _ in sizes)

    for pattern, title in PATTERNS.items():
        print(f"### Pattern {title}")
        print()
        print(f"Time per alloc+free pair ({args.stat} of the repetitions):")
        print()
        print(f"| allocator | {size_header} | geomean 16 B–1 KiB |")
        print(f"|---|{size_rule}|---:|")
        for allocator in shown:
            cells = [fmt_ns(cost(pattern, allocator, s)) for s in sizes]
            served = [s for s in small if cost(pattern, allocator, s)]
            g = geomean([cost(pattern, allocator, s) for s in served])
            print(f"| {LABELS[allocator]} | {' | '.join(cells)} | {fmt_ns(g)}{span(served)} |")
        print()
        for mine in SECBITS:
            print(f"How many times faster {mine} is (peer time / {mine} time; below 1× it is slower):")
            print()
            print(f"| vs | {size_header} | geomean 16 B–1 KiB |")
            print(f"|---|{size_rule}|---:|")
            for peer in PEERS + [s for s in SECBITS if s != mine]:
                cells = [fmt_ratio(ratio(pattern, peer, mine, s)) for s in sizes]
                g, served = small_geomean_ratio(pattern, peer, mine)
                print(f"| {peer} | {' | '.join(cells)} | {fmt_ratio(g)}{span(served)} |")
            print()
        if secret:
            print("The cost of the secret source: secret time / anonymous time, same API (above 1× the secret "
                  "source is slower):")
            print()
            print(f"| API | {size_header} | geomean 16 B–1 KiB | geomean all sizes |")
            print(f"|---|{size_rule}|---:|---:|")
            for mine, theirs in secret.items():
                cells = [fmt_ratio(ratio(pattern, theirs, mine, s)) for s in sizes]
                g, served = small_geomean_ratio(pattern, theirs, mine)
                everything = geomean([ratio(pattern, theirs, mine, s) for s in sizes])
                print(f"| {mine} | {' | '.join(cells)} | {fmt_ratio(g)}{span(served)} | {fmt_ratio(everything)} |")
            print()

    print("### Two threads against one: pattern c cost per pair / pattern b cost per pair")
    print()
    print(f"| allocator | {size_header} | geomean 16 B–1 KiB |")
    print(f"|---|{size_rule}|---:|")
    for allocator in shown:
        cells = []
        values = []
        for s in sizes:
            b, c = cost("b", allocator, s), cost("c", allocator, s)
            r = c / b if b and c else None
            cells.append(fmt_ratio(r))
            if r and s <= SMALL_LIMIT:
                values.append(r)
        print(f"| {allocator} | {' | '.join(cells)} | {fmt_ratio(geomean(values))} |")
    print()

    if flips:
        print("### secbits: mprotect calls (`protection_flips`) per alloc+free pair (median)")
        print()
        print(f"| pattern, API | {size_header} |")
        print(f"|---|{size_rule}|")
        for pattern in PATTERNS:
            for mine in SECBITS + list(secret.values()):
                cells = [("n/a" if flips.get((pattern, mine, s)) is None else f"{flips[(pattern, mine, s)]:.3g}")
                         for s in sizes]
                print(f"| {pattern}, {mine} | {' | '.join(cells)} |")
        print()

    if errors:
        print("### Not measured")
        print()
        seen = set()
        for (pattern, allocator, size), message in sorted(errors.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            if (allocator, size) in seen:
                continue
            seen.add((allocator, size))
            patterns = "".join(p for p in PATTERNS if (p, allocator, size) in errors)
            print(f"- {allocator} {size} B, patterns {patterns}: {message}")
        print()

    print("### Targets (geometric mean over 16 B–1 KiB)")
    print()
    print("| pattern | target | API | measured | met |")
    print("|---|---|---|---:|---|")
    targets_table(SECBITS, small_geomean_ratio, span, cost, small)
    if secret:
        print()
        print("The same targets with the secret page source (for information: the targets are the anonymous "
              "source's):")
        print()
        print("| pattern | target | API | measured | met |")
        print("|---|---|---|---:|---|")
        targets_table(list(secret.values()), small_geomean_ratio, span, cost, small)


def targets_table(apis, small_geomean_ratio, span, cost, small):
    for pattern, peer, minimum, wording in TARGETS:
        for mine in apis:
            g, served = small_geomean_ratio(pattern, peer, mine)
            if g is None:
                print(f"| {pattern} | {wording} | {mine} | n/a | not measured |")
                continue
            print(f"| {pattern} | {wording} | {mine} | {fmt_speed(g)}{span(served)} | "
                  f"{'yes' if g >= minimum else 'NO'} |")
    for mine in apis:
        values = [cost("c", mine, s) / cost("b", mine, s) for s in small if cost("b", mine, s) and cost("c", mine, s)]
        g = geomean(values)
        met = "n/a" if g is None else ("yes" if g <= SCALING_LIMIT else "NO")
        print(f"| c | 2 threads cost at most 1.5× per pair what 1 thread costs | {mine} | "
              f"{fmt_ratio(g)} | {met} |")


if __name__ == "__main__":
    main()
