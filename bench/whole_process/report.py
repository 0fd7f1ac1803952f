#!/usr/bin/env python3
"""Tables for the whole-process benchmark (bench/whole_process/run.sh).

    python3 bench/whole_process/report.py RESULTS_DIR [RESULTS_DIR ...]

Each RESULTS_DIR holds results.csv and meta.txt from one run.sh. For each:
medians over the runs of wall time, CPU time (user + sys) and peak RSS per
workload and configuration, the ratios the targets are about, their geometric
means, and whether each target is met. With two or more directories, a last
table puts the ratios of the runs side by side, to judge the noise.
Output is Markdown, so that it can go into a README as it is.
"""
import csv
import math
import statistics
import sys
from pathlib import Path

# secbits-all-hN: secbits-run --mode all --harden N (bench/hardening.sh); no
# ratios or targets of their own here (bench/hardening_report.py has them).
HARDENED = [f"secbits-all-h{level}" for level in range(4)]
CONFIGS = ["glibc", "jemalloc", "secbits-all", "secbits-tagged"] + HARDENED
SHORT = {"glibc": "glibc", "jemalloc": "jemalloc", "secbits-all": "all", "secbits-tagged": "tagged",
         **{c: f"all-h{c[-1]}" for c in HARDENED}}
WORKLOADS = ["larson", "prodcons", "churn", "realloc_grow", "mstress", "partial_touch", "mt_small", "remote_free",
             "large_churn", "fork_exec", "python", "sqlite", "gcc"]
# (numerator, denominator): the ratios the issue asks for.
RATIOS = [
    ("secbits-all", "glibc"),
    ("secbits-all", "jemalloc"),
    ("secbits-tagged", "jemalloc"),
    ("jemalloc", "glibc"),
]
# (ratio, metric, limit on the geometric mean, wording)
TARGETS = [
    (("secbits-all", "glibc"), "wall", 1.10, "secbits-all within 1.10x of glibc's wall time (geometric mean)"),
    (("secbits-all", "glibc"), "rss", 1.25, "secbits-all within 1.25x of glibc's peak RSS (geometric mean)"),
    (("secbits-tagged", "jemalloc"), "wall", 1.03, "secbits-tagged within 1.03x of jemalloc's wall time (geometric mean)"),
    (("secbits-tagged", "jemalloc"), "rss", 1.02, "secbits-tagged within 1.02x of jemalloc's peak RSS (geometric mean)"),
]
# (ratio, metric, limit on any one workload, floor, wording): the limit holds
# for the workloads whose denominator is at least `floor` (MiB for rss): twice
# a few MiB of peak RSS is a pool's fixed cost, not a program's.
WORST = [
    (("secbits-all", "glibc"), "wall", 1.5, 0.0, "no workload above 1.5x glibc's wall time under secbits-all"),
    (("secbits-all", "glibc"), "rss", 2.0, 16.0,
     "no workload above 2x glibc's peak RSS under secbits-all (where glibc's is at least 16 MiB)"),
]


def geomean_limit(key, metric):
    return next(limit for k, m, limit, _ in TARGETS if (k, m) == (key, metric))


def worst_limit(key, metric):
    return next((limit, floor) for k, m, limit, floor, _ in WORST if (k, m) == (key, metric))


def over_limit(med, ratios_by_workload, den, metric, rule):
    """Of the workloads a WORST rule (limit, floor) covers (den's median
    `metric` at least floor), those over the limit {workload: ratio}, and the
    worst (ratio, workload) or None."""
    limit, floor = rule
    covered = {w: r for w, r in ratios_by_workload.items()
               if r is not None and med.get((w, den)) and med[(w, den)][metric] >= floor}
    over = {w: r for w, r in covered.items() if r > limit}
    worst = max(((r, w) for w, r in covered.items()), default=None)
    return over, worst


def ncores(meta):
    return meta.get("cpu", "?").rpartition(" x ")[2] or "?"


def geomean(values):
    values = [v for v in values if v is not None and v > 0 and not math.isnan(v)]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ratio_text(r):
    return "n/a" if r is None else f"{r:.2f}"


def percent(fraction):
    try:
        return f"{float(fraction) * 100:.0f} %"
    except (TypeError, ValueError):
        return "?"


def load(directory):
    directory = Path(directory)
    meta = {}
    for line in (directory / "meta.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        meta[key] = value
    rows = list(csv.DictReader((directory / "results.csv").open()))
    return meta, rows


def glibc_checksums(rows):
    """{workload: the checksum most of its glibc runs gave}"""
    counts = {}
    for row in rows:
        if row["config"] == "glibc" and row["status"] == "ok":
            per = counts.setdefault(row["workload"], {})
            per[row["checksum"]] = per.get(row["checksum"], 0) + 1
    return {w: max(per, key=per.get) for w, per in counts.items()}


def medians(rows):
    """{(workload, config): {metric: median}} over the successful runs, and
    the failed runs (a non-zero exit, or a checksum other than glibc's)."""
    cells, failed = {}, []
    reference = glibc_checksums(rows)
    for row in rows:
        expected = reference.get(row["workload"])
        if row["status"] == "ok" and expected is not None and row["checksum"] != expected:
            row = dict(row, status=f"checksum {row['checksum']}, glibc's is {expected}")
        if row["status"] != "ok":
            failed.append(row)
            continue
        cell = cells.setdefault((row["workload"], row["config"]), {"wall": [], "cpu": [], "rss": [], "others": []})
        wall, user, sys_ = float(row["wall_s"]), float(row["user_s"]), float(row["sys_s"])
        cell["wall"].append(wall)
        cell["cpu"].append(user + sys_)
        cell["rss"].append(float(row["maxrss_kb"]) / 1024.0)
        # Cores the rest of the machine kept busy during the run.
        cell["others"].append(max(0.0, float(row["machine_busy_s"]) - user - sys_) / wall if wall > 0 else 0.0)
    result = {}
    for key, cell in cells.items():
        result[key] = {metric: statistics.median(values) for metric, values in cell.items()}
        result[key]["n"] = len(cell["wall"])
        result[key]["spread"] = (max(cell["wall"]) - min(cell["wall"])) / statistics.median(cell["wall"])
    return result, failed


def ratios(med, workloads, metric):
    """{(num, den): {workload: ratio}}"""
    table = {}
    for num, den in RATIOS:
        table[(num, den)] = {}
        for w in workloads:
            a, b = med.get((w, num)), med.get((w, den))
            table[(num, den)][w] = a[metric] / b[metric] if a and b and b[metric] > 0 else None
    return table


def metric_table(med, workloads, configs, metric, title, unit, digits):
    present = [(num, den) for num, den in RATIOS if num in configs and den in configs]
    r = ratios(med, workloads, metric)
    head = ["workload"] + [f"{SHORT[c]} ({unit})" for c in configs] + [f"{SHORT[n]}/{SHORT[d]}" for n, d in present]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        cells = [w]
        for c in configs:
            m = med.get((w, c))
            cells.append("fail" if m is None else f"{m[metric]:.{digits}f}")
        for key in present:
            cells.append(ratio_text(r[key][w]))
        lines.append("| " + " | ".join(cells) + " |")
    gm = ["**geometric mean**"] + [""] * len(configs)
    for key in present:
        gm.append(f"**{ratio_text(geomean(list(r[key].values())))}**")
    lines.append("| " + " | ".join(gm) + " |")
    return "\n".join(lines), r


def report(directory):
    meta, rows = load(directory)
    workloads = [w for w in WORKLOADS if any(row["workload"] == w for row in rows)]
    configs = [c for c in CONFIGS if any(row["config"] == c for row in rows)]
    med, failed = medians(rows)
    out = []
    out.append(f"### Whole-process comparison, {meta.get('date', '?')}")
    out.append("")
    out.append(
        f"Machine `{meta.get('host', '?')}`: {meta.get('cpu', '?')}, {meta.get('memory', '?')}, "
        f"{meta.get('os', '?')}, kernel {meta.get('kernel', '?')}; as {meta.get('user', '?')} "
        f"(RLIMIT_MEMLOCK {meta.get('memlock_limit', '?')} KiB, not enforced for root: CAP_IPC_LOCK); "
        f"THP {meta.get('thp', '?')}. Commit {meta.get('commit', '?')}. "
        f"gcc {meta.get('gcc', '?')}, Python {meta.get('python', '?')}, SQLite {meta.get('sqlite', '?')}, "
        f"jemalloc {meta.get('jemalloc', '?')}. Median of {meta.get('runs', '?')} runs per cell, configurations "
        f"alternated run by run; {meta.get('elapsed_s', '?')} s in all, during which the machine's cores were "
        f"{percent(meta.get('machine_busy_fraction'))} busy (the benchmark and everything else)."
    )
    out.append("")
    wall_text, wall = metric_table(med, workloads, configs, "wall", "Wall time, seconds (median)", "s", 2)
    rss_text, rss = metric_table(med, workloads, configs, "rss", "Peak RSS, MiB (median of GNU time's %M)", "MiB", 1)
    cpu_text, _ = metric_table(med, workloads, configs, "cpu", "CPU time, user + sys seconds (median)", "s", 2)
    out += [wall_text, "", rss_text, "", cpu_text, ""]

    out.append("**Targets**")
    out.append("")
    for key, metric, limit, words in TARGETS:
        if key[0] not in configs or key[1] not in configs:
            continue
        value = geomean(list((wall if metric == "wall" else rss)[key].values()))
        verdict = "n/a" if value is None else ("met" if value <= limit else "**not met**")
        out.append(f"- {words}: {ratio_text(value)}x, {verdict}")
    cpu = ratios(med, workloads, "cpu")
    cpu_parts = [f"{SHORT[n]}/{SHORT[d]} {ratio_text(geomean(list(cpu[(n, d)].values())))}x"
                 for n, d in RATIOS if n in configs and d in configs]
    if cpu_parts:
        out.append("- for comparison, the same geometric means on CPU time (less sensitive to other "
                   "processes than wall time): " + ", ".join(cpu_parts))
    for key, metric, limit, floor, words in WORST:
        if key[0] not in configs or key[1] not in configs:
            continue
        over, worst = over_limit(med, (wall if metric == "wall" else rss)[key], key[1], metric, (limit, floor))
        if over:
            listed = ", ".join(f"{w} {r:.2f}x" for w, r in sorted(over.items(), key=lambda kv: -kv[1]))
            out.append(f"- {words}: **not met** ({listed})")
        elif worst:
            out.append(f"- {words}: met (worst {worst[1]} {worst[0]:.2f}x)")
    if "jemalloc" in configs and "glibc" in configs:
        out.append(f"- reference, jemalloc/glibc: wall {ratio_text(geomean(list(wall[('jemalloc', 'glibc')].values())))}x "
                   f"(expected about 0.57x), peak RSS {ratio_text(geomean(list(rss[('jemalloc', 'glibc')].values())))}x "
                   f"(expected about 1.2x)")
    out.append("")
    spreads = sorted(((m["spread"], w, c) for (w, c), m in med.items()), reverse=True)
    if spreads:
        top = ", ".join(f"{w}/{SHORT[c]} {s * 100:.0f} %" for s, w, c in spreads[:3])
        typical = statistics.median(s for s, _, _ in spreads)
        others = statistics.median(m["others"] for m in med.values())
        out.append(f"Run-to-run spread of wall time ((max - min) / median over the runs of a cell): median "
                   f"{typical * 100:.0f} %, largest {top}. Other processes on the machine used a median of "
                   f"{others:.2f} of its {ncores(meta)} cores during a run.")
    if failed:
        out.append("")
        out.append("**Failed runs** (not in the medians):")
        out.append("")
        for row in failed:
            why = "exit status not 0" if row["status"] == "fail" else row["status"]
            out.append(f"- round {row['round']} {row['workload']} under {row['config']}: {why}")
    return "\n".join(out), med, workloads, configs


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = []
    for directory in argv[1:]:
        text, med, workloads, configs = report(directory)
        print(text)
        print()
        runs.append((directory, med, workloads, configs))
    if len(runs) >= 2:
        workloads = [w for w in WORKLOADS if all(w in r[2] for r in runs)]
        keys = [k for k in RATIOS if all(k[0] in r[3] and k[1] in r[3] for r in runs)]
        print("### Noise: the same ratios from each benchmark run")
        print()
        head = ["workload"]
        for num, den in keys:
            for metric in ("wall", "rss"):
                head.append(f"{SHORT[num]}/{SHORT[den]} {metric}")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        tables = [{m: ratios(r[1], workloads, m) for m in ("wall", "rss")} for r in runs]
        for w in workloads + ["geometric mean"]:
            cells = [w]
            for key in keys:
                for metric in ("wall", "rss"):
                    if w == "geometric mean":
                        values = [geomean(list(t[metric][key].values())) for t in tables]
                    else:
                        values = [t[metric][key][w] for t in tables]
                    cells.append(" / ".join(ratio_text(v) for v in values))
            print("| " + " | ".join(cells) + " |")
        print()
        print("Each cell: " + " / ".join(f"run {i + 1} ({Path(r[0]).name})" for i, r in enumerate(runs)) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
