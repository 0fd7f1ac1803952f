#!/usr/bin/env python3
"""Where the time of a profiled run goes, by what the pool was doing.

    perf script -i perf.data -F comm,tid,ip,sym,dso --no-demangle | python3 profile_breakdown.py

Reads perf script output of a `perf record --call-graph dwarf` run (one
sample per block: a "comm tid" line, then its frames from the leaf up) and
puts each sample in the first bucket whose secbits function is on its stack:
large blocks (above 16 KiB: a page run of their own, committed and mlocked on
malloc, wiped and given back with mmap(MAP_FIXED) on free), slab commits and
page-protection flips, wipes on free, the pool's bookkeeping; the rest is the
program's own work or another library's.
"""
import collections
import sys

BUCKETS = [
    # (label, every one of these must be on the stack)
    ("large malloc: mlock (faults in and zeroes every page)", ["large_allocate", "sys_mlock"]),
    ("large malloc: mprotect (opens the pages)", ["large_allocate", "sys_mprotect"]),
    ("large malloc: other", ["large_allocate"]),
    ("large free: mmap(MAP_FIXED) (gives the pages back)", ["large_free", "vm_mmap_pgoff"]),
    ("large free: madvise(MADV_DONTDUMP)", ["large_free", "sys_madvise"]),
    ("large free: other", ["large_free"]),
    ("large realloc in place: mlock/mprotect of the new pages", ["large_resize_in_place"]),
    ("slab commit, give-back and page flips (mprotect/mlock/mmap)", ["take_slab"]),
    ("slab commit, give-back and page flips (mprotect/mlock/mmap)", ["give_back_slab"]),
    ("slab commit, give-back and page flips (mprotect/mlock/mmap)", ["open_pages"]),
    ("slab commit, give-back and page flips (mprotect/mlock/mmap)", ["close_pages"]),
    ("realloc: copy to a new block", ["reallocate", "memcpy"]),
]


def main():
    total = 0
    truncated = 0  # system-call samples whose user stack perf could not unwind to a thread's start
    counts = collections.Counter()
    for block in sys.stdin.read().split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if len(lines) < 2:
            continue
        frames, dsos = [], []
        for line in lines[1:]:
            symbol = line.split(None, 1)[1] if " " in line else "?"
            dso = ""
            if symbol.endswith(")") and " (" in symbol:
                symbol, _, dso = symbol.rpartition(" (")
                dso = dso[:-1].rsplit("/", 1)[-1]
            if dso == "inlined":  # perf names no object for an inlined frame
                symbol, dso = symbol + " (inlined)", ""
            frames.append(symbol)
            dsos.append(dso)
        stack = " ".join(frames)
        total += 1
        if "entry_SYSCALL" in stack and not any(f in stack for f in ("start_thread", "__libc_start", "_start")):
            truncated += 1
        if "memset" in frames[0] and len(frames) > 1 and (
                frames[1] in ("free", "cfree", "realloc") or frames[1].startswith("_ZdlPv")
                or frames[1].startswith("_ZN7secbits")):
            counts["large free: wipe (memset)" if "large_free" in stack else "small free: wipe (memset)"] += 1
            continue
        for label, needles in BUCKETS:
            if all(n in stack for n in needles):
                counts[label] += 1
                break
        else:
            leaf, dso = frames[0], dsos[0]
            syscall = next((f[len("__x64_sys_"):] for f in frames if f.startswith("__x64_sys_")), None)
            unwound = any(f in stack for f in ("start_thread", "__libc_start", "_start"))
            if syscall and not unwound:
                counts[f"system call {syscall}, caller not unwound"] += 1
            elif not unwound and len(frames) == 1 and "memset" in leaf:
                counts["memset, caller not unwound"] += 1
            elif dso.startswith("libsecbits_preload") or leaf.startswith(("secbits_preload_own_malloc", "_ZN7secbits")):
                counts["secbits fast paths and bookkeeping (no syscall)"] += 1
            elif dso.startswith("libjemalloc"):
                counts["jemalloc (tagged mode's untagged blocks)"] += 1
            elif "libsecbits_preload" in " ".join(dsos):
                counts["inside an allocation call, other: " + leaf[:50]] += 1
            elif dso == "[kernel.kallsyms]":
                counts["kernel, for the program (page faults, thread start and exit)"] += 1
            else:
                counts[f"the program's own code ({dso}): {leaf[:50]}"] += 1
    if total == 0:
        print("no samples", file=sys.stderr)
        return 1
    shown = 0.0
    for label, n in counts.most_common():
        share = 100.0 * n / total
        if share < 0.5:
            break
        shown += share
        try:
            print(f"{share:5.1f} %  {label}")
        except BrokenPipeError:
            return 0
    print(f"{100.0 - shown:5.1f} %  (the rest, each below 0.5 %)")
    print(f"{total} samples")
    if truncated > total / 10:
        print(f"warning: {truncated} system-call samples ({100.0 * truncated / total:.0f} %) have a user stack that "
              "stops short of the thread's start (DWARF unwinding failed): the buckets undercount; profile again "
              "or a smaller run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
