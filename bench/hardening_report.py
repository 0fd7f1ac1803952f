#!/usr/bin/env python3
"""Tables of what each hardening level costs against level 0, from one run of
bench/hardening.sh.

    python3 bench/hardening_report.py RESULTS_DIR

RESULTS_DIR holds meta.txt and what the parts left there:

- blocks.txt (secbits_block_sizes): the slot a block of each request size
  takes at each level, and the pool's committed bytes per block;
- pool/hN-R.json, pool/peers-R.json, pool/processes.txt (secbits_pool_bench,
  the secbits rows at level N in round R, and the peers): per level, pattern
  and API the geometric mean of (level N time / level 0 time) over 16 B-1 KiB
  (the range of the pool benchmark's targets) and over every size, and the
  worst single size; the ratio at every size; the pool benchmark's targets
  (bench/pool_report.py's) at each level, against the peers of the same run;
- whole_process/ (bench/whole_process/run.sh with glibc and
  secbits-all-h0..h3): per workload and level, wall time, CPU time and peak
  RSS against h0; the whole-process targets of secbits-all (against glibc) at
  each level.

The cost of an alloc+free pair is pool_report.py's (real_time * threads /
pairs), the median over the rounds' processes of a level; ratios are of
medians. Output is Markdown.
"""
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "whole_process"))
import pool_report  # noqa: E402
import report as wp_report  # noqa: E402

LEVELS = [0, 1, 2, 3]
APIS = ["secbits_c", "secbits_cpp"]
API_NAME = {"secbits_c": "C", "secbits_cpp": "C++"}
PATTERN_NAME = {"a": "a (alloc-then-free)", "b": "b (1,000 live, random frees)", "c": "c (b on 2 threads)"}
geomean = pool_report.geomean


def size_name(size):
    return f"{size} B" if size < 1024 else f"{size // 1024} KiB"


def x(r, digits=2):
    return "n/a" if r is None else f"{r:.{digits}f}×"


def read_meta(directory):
    meta = {}
    path = directory / "meta.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            meta[key] = value
    return meta


def blocks_section(directory):
    path = directory / "blocks.txt"
    if not path.exists():
        return []
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        level, size, usable, block, committed = line.split()
        rows[(int(level), int(size))] = (int(usable), int(block), float(committed))
    sizes = sorted({size for _, size in rows})
    out = ["### Memory per block", "",
           "The slot a block of each request size takes in its slab (`secbits_block_sizes`: the "
           "smallest distance between 4,096 blocks' addresses), bytes; in brackets the pool's "
           "committed bytes per block over those 4,096 (slab pages included, one size per process). "
           "Bold: a slot larger than at level 0.", ""]
    out.append("| request | " + " | ".join(f"level {level}" for level in LEVELS) + " | level 3 / level 0 |")
    out.append("|---:|" + "---:|" * (len(LEVELS) + 1))
    for size in sizes:
        base = rows.get((0, size))
        cells = []
        for level in LEVELS:
            r = rows.get((level, size))
            if r is None:
                cells.append("n/a")
                continue
            text = f"{r[1]} ({r[2]:.0f})"
            cells.append(f"**{text}**" if base and r[1] > base[1] else text)
        top = rows.get((3, size))
        cells.append(x(top[1] / base[1]) if top and base else "n/a")
        out.append(f"| {size} | " + " | ".join(cells) + " |")
    requested = [s for s in sizes if s in (8, 16, 24, 32, 48, 64, 100, 128, 256, 1000)]
    if requested and all((l, s) in rows for l in (0, 3) for s in requested):
        g = geomean([rows[(3, s)][1] / rows[(0, s)][1] for s in requested])
        out += ["", f"Geometric mean of the slot, level 3 / level 0, over "
                f"{', '.join(str(s) for s in requested)} B: {x(g)}."]
    return out + [""]


def pool_costs(directory):
    """{level: {(pattern, api, size): ns}}, {peer key: ns}, process lines."""
    pool = directory / "pool"
    by_level = {}
    for level in LEVELS:
        files = sorted(pool.glob(f"h{level}-*.json"))
        if files:
            _, runs = pool_report.read_files(files)
            _, ns, errors, _, _ = pool_report.load([], runs, statistics.median)
            by_level[level] = ns
    peers = {}
    files = sorted(pool.glob("peers-*.json"))
    if files:
        _, runs = pool_report.read_files(files)
        _, peers, _, _, _ = pool_report.load([], runs, statistics.median)
    processes = []
    if (pool / "processes.txt").exists():
        processes = [line.split() for line in (pool / "processes.txt").read_text().splitlines() if line.strip()]
    return by_level, peers, processes


def pool_section(directory, meta):
    by_level, peers, processes = pool_costs(directory)
    if 0 not in by_level:
        return []
    base = by_level[0]
    sizes = sorted({size for (_, _, size) in base})
    small = [s for s in sizes if s <= pool_report.SMALL_LIMIT]
    out = ["### Pool benchmark: level N time / level 0 time per alloc+free pair", ""]
    if processes:
        per_level = {}
        for name, level, wall, *_rest, others in processes:
            per_level.setdefault(level, []).append((float(wall), float(others)))
        counts = ", ".join(f"level {level} {len(v)}" for level, v in sorted(per_level.items()) if level != "-")
        walls = [w for v in per_level.values() for w, _ in v]
        others = [o for v in per_level.values() for _, o in v]
        out.append(f"Processes: {counts}" + (f", peers {len(per_level['-'])}" if "-" in per_level else "") +
                   f"; {sum(walls):.0f} s in all; other processes used a median of "
                   f"{statistics.median(others):.2f} cores during a process (max {max(others):.2f}). "
                   f"Minimum time {meta.get('min_time', '?')} s per benchmark; medians over the processes "
                   "of a level.")
        out.append("")

    def ratio(level, pattern, api, size):
        a, b = by_level.get(level, {}).get((pattern, api, size)), base.get((pattern, api, size))
        return a / b if a and b else None

    out.append("| level | pattern | API | geomean 16 B–1 KiB | geomean all sizes | worst size |")
    out.append("|---|---|---|---:|---:|---|")
    for level in LEVELS[1:]:
        if level not in by_level:
            continue
        for pattern in "abc":
            for api in APIS:
                rs = {s: ratio(level, pattern, api, s) for s in sizes}
                worst = max(((r, s) for s, r in rs.items() if r is not None), default=None)
                out.append(f"| {level} | {PATTERN_NAME[pattern]} | {API_NAME[api]} | "
                           f"{x(geomean([rs[s] for s in small]))} | {x(geomean(list(rs.values())))} | "
                           + (f"{size_name(worst[1])}: {x(worst[0])}" if worst else "n/a") + " |")
    out.append("")
    out.append("Every size (level N / level 0, same pattern and API):")
    out.append("")
    out.append("| level, pattern, API | " + " | ".join(size_name(s) for s in sizes) + " |")
    out.append("|---|" + "---:|" * len(sizes))
    for level in LEVELS[1:]:
        for pattern in "abc":
            for api in APIS:
                out.append(f"| {level}, {pattern}, {API_NAME[api]} | " +
                           " | ".join(x(ratio(level, pattern, api, s)) for s in sizes) + " |")
    out.append("")
    out.append("Level 0, time per pair (median):")
    out.append("")
    out.append("| pattern, API | " + " | ".join(size_name(s) for s in sizes) + " |")
    out.append("|---|" + "---:|" * len(sizes))
    for pattern in "abc":
        for api in APIS:
            out.append(f"| {pattern}, {API_NAME[api]} | " +
                       " | ".join(pool_report.fmt_ns(base.get((pattern, api, s))) for s in sizes) + " |")
    out.append("")
    out += pool_targets(by_level, peers, small)
    return out


def pool_targets(by_level, peers, small):
    """The pool benchmark's targets (pool_report.TARGETS, c/b scaling) at each level."""
    out = ["### Pool benchmark targets at each level (geometric mean over 16 B–1 KiB; C / C++)", ""]
    if not peers:
        out += ["No peers measured in this run (SECBITS_HARDENING_PEERS=0).", ""]
    head = ["target"] + [f"level {level}" for level in LEVELS if level in by_level]
    out.append("| " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * (len(head) - 1))
    rows = []
    for pattern, peer, minimum, wording in pool_report.TARGETS:
        if not peers:
            break
        cells = [f"{pattern}: {wording}"]
        for level in LEVELS:
            if level not in by_level:
                continue
            ns = by_level[level]
            parts = []
            for api in APIS:
                served = [s for s in small if peers.get((pattern, peer, s)) and ns.get((pattern, api, s))]
                g = geomean([peers[(pattern, peer, s)] / ns[(pattern, api, s)] for s in served])
                if g is None:
                    parts.append("n/a")
                    continue
                text = pool_report.fmt_speed(g).replace(" faster", "").replace(" slower", " slower")
                parts.append(text if g >= minimum else f"**{text} (missed)**")
            cells.append(" / ".join(parts))
        rows.append(cells)
    cells = ["c: 2 threads at most 1.5× per pair what 1 thread costs"]
    for level in LEVELS:
        if level not in by_level:
            continue
        ns = by_level[level]
        parts = []
        for api in APIS:
            g = geomean([ns[("c", api, s)] / ns[("b", api, s)] for s in small
                         if ns.get(("b", api, s)) and ns.get(("c", api, s))])
            parts.append("n/a" if g is None else
                         (f"{g:.2f}×" if g <= pool_report.SCALING_LIMIT else f"**{g:.2f}× (missed)**"))
        cells.append(" / ".join(parts))
    rows.append(cells)
    for cells in rows:
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "(a/b against a peer: how many times faster secbits is, the peer's time / secbits' time; "
            "\"slower\" is the inverse; the jemalloc targets need at least 0.5×, i.e. at most 2× slower.)", ""]
    return out


def whole_section(directory):
    wp = directory / "whole_process"
    if not (wp / "results.csv").exists():
        return []
    meta, rows = wp_report.load(wp)
    med, failed = wp_report.medians(rows)
    workloads = [w for w in wp_report.WORKLOADS if any(r["workload"] == w for r in rows)]
    configs = [f"secbits-all-h{level}" for level in LEVELS]
    out = ["### Whole programs: `secbits-run --mode all --harden N` against `--harden 0`", ""]
    out.append(f"{meta.get('date', '?')}, median of {meta.get('runs', '?')} runs per cell, glibc and the four "
               f"levels alternated run by run; {meta.get('elapsed_s', '?')} s in all, the machine's cores "
               f"{wp_report.percent(meta.get('machine_busy_fraction'))} busy.")
    out.append("")

    def r(w, c, d, metric):
        a, b = med.get((w, c)), med.get((w, d))
        return a[metric] / b[metric] if a and b and b[metric] > 0 else None

    head = ["workload", "h0 wall (s)"] + [f"h{l}/h0 wall" for l in LEVELS[1:]] + ["h0 CPU (s)"] + \
        [f"h{l}/h0 CPU" for l in LEVELS[1:]] + ["h0 RSS (MiB)"] + [f"h{l}/h0 RSS" for l in LEVELS[1:]]
    out.append("| " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * (len(head) - 1))
    cols = {(m, l): [] for m in ("wall", "cpu", "rss") for l in LEVELS[1:]}
    for w in workloads:
        cells = [w]
        for metric, digits in (("wall", 2), ("cpu", 2), ("rss", 1)):
            h0 = med.get((w, configs[0]))
            cells.append("fail" if h0 is None else f"{h0[metric]:.{digits}f}")
            for level in LEVELS[1:]:
                v = r(w, configs[level], configs[0], metric)
                cols[(metric, level)].append(v)
                cells.append(x(v))
        out.append("| " + " | ".join(cells) + " |")
    gm = ["**geometric mean**"]
    for metric in ("wall", "cpu", "rss"):
        gm.append("")
        for level in LEVELS[1:]:
            gm.append(f"**{x(geomean(cols[(metric, level)]))}**")
    out.append("| " + " | ".join(gm) + " |")
    out.append("")

    if any(c == "glibc" for (_, c) in med):
        out.append("Whole-process targets of secbits-all (against glibc, same run) at each level:")
        out.append("")
        # The limits are the whole-process report's, for secbits-all against glibc.
        rule = ("secbits-all", "glibc")
        gm_wall, gm_rss = wp_report.geomean_limit(rule, "wall"), wp_report.geomean_limit(rule, "rss")
        worst_wall, worst_rss_rule = wp_report.worst_limit(rule, "wall"), wp_report.worst_limit(rule, "rss")
        out.append(f"| level | wall / glibc (geomean; target ≤ {gm_wall:g}×) | peak RSS / glibc (≤ {gm_rss:g}×) | "
                   f"workloads above {worst_wall[0]:g}× glibc's wall | worst RSS / glibc (≤ {worst_rss_rule[0]:g}×"
                   f" where glibc's ≥ {worst_rss_rule[1]:g} MiB) | CPU / glibc |")
        out.append("|---|---:|---:|---|---:|---:|")
        for level in LEVELS:
            c = configs[level]
            walls = {w: r(w, c, "glibc", "wall") for w in workloads}
            rsss = {w: r(w, c, "glibc", "rss") for w in workloads}
            cpus = {w: r(w, c, "glibc", "cpu") for w in workloads}
            gw, gr = geomean(list(walls.values())), geomean(list(rsss.values()))
            over_wall, _ = wp_report.over_limit(med, walls, "glibc", "wall", worst_wall)
            over = ", ".join(f"{w} {v:.2f}×" for w, v in sorted(over_wall.items(), key=lambda kv: -kv[1])) or "none"
            _, worst_rss = wp_report.over_limit(med, rsss, "glibc", "rss", worst_rss_rule)
            mark = lambda v, limit: "n/a" if v is None else (f"{v:.2f}×" if v <= limit else f"**{v:.2f}×**")
            out.append(f"| {level} | {mark(gw, gm_wall)} | {mark(gr, gm_rss)} | {over} | "
                       + (f"{worst_rss[1]} {worst_rss[0]:.2f}×" if worst_rss else "n/a")
                       + f" | {x(geomean(list(cpus.values())))} |")
        out.append("")
    spreads = sorted(((m["spread"], w, c) for (w, c), m in med.items()), reverse=True)
    if spreads:
        others = statistics.median(m["others"] for m in med.values())
        out.append(f"Run-to-run spread of wall time ((max - min) / median over a cell's runs): median "
                   f"{statistics.median(s for s, _, _ in spreads) * 100:.0f} %, largest "
                   + ", ".join(f"{w}/{wp_report.SHORT[c]} {s * 100:.0f} %" for s, w, c in spreads[:3])
                   + f". Other processes used a median of {others:.2f} cores during a run.")
    if failed:
        out += ["", "**Failed runs** (not in the medians):", ""]
        out += [f"- round {row['round']} {row['workload']} under {row['config']}: {row['status']}" for row in failed]
    return out + [""]


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[1])
    meta = read_meta(directory)
    print(f"## Hardening levels against level 0, {meta.get('date', '?')}")
    print()
    print(f"Machine `{meta.get('host', '?')}`: {meta.get('cpu', '?')}, {meta.get('os', '?')}, kernel "
          f"{meta.get('kernel', '?')}, as {meta.get('user', '?')}; commit {meta.get('commit', '?')}; load average "
          f"{meta.get('loadavg_before', '?')} before, {meta.get('loadavg_after', '?')} after; pool part "
          f"{meta.get('pool_elapsed_s', '?')} s, whole-process part {meta.get('whole_elapsed_s', '?')} s.")
    print()
    for section in (blocks_section(directory), pool_section(directory, meta), whole_section(directory)):
        if section:
            print("\n".join(section))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
