#!/usr/bin/env python3
"""Writes the seed corpus in corpus/<target>/: a few short programs per target,
in the byte format the targets read (harness/input.hpp, harness/draw.hpp and
each target's opcode list). The files are committed; run this again only when
a format changes. Any input is valid, so a seed that falls out of step with a
format still runs, it just means something else."""

import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
SIZE_MAX = (1 << 64) - 1
MAX_SMALL = 65536  # kMaxSmallSize, src/pool/size_classes.hpp


def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)


# harness/draw.hpp ----------------------------------------------------------

def size(n):
    """draw_size: the shortest kind that yields exactly n."""
    if n <= 128:
        return bytes([0, n])
    if n <= MAX_SMALL + 16:
        return bytes([3]) + u16(n)
    if n - MAX_SMALL < 256 << 10:
        return bytes([6]) + u32(n - MAX_SMALL)
    assert n <= 4 << 20
    return bytes([7]) + u32(n)


def alignment(n):
    """draw_alignment: a power of two up to 1 MiB."""
    return bytes([n.bit_length() - 1])


# The edge tables of draw_hostile_size and draw_hostile_alignment, in order.
SIZE_EDGES = [0, 1, SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 4096, SIZE_MAX // 2, SIZE_MAX // 2 + 1,
              64 << 30, (64 << 30) + 1, 1 << 40, 1 << 48, MAX_SMALL, MAX_SMALL + 1, 4095, 4096]
ALIGNMENT_EDGES = [0, 1, 2, 3, 4, 8, 12, 24, 48, 96, 4095, 4097, 3 << 12, 3 << 18, 64 << 30, 1 << 62, 1 << 63,
                   (1 << 63) + 1, SIZE_MAX // 2, SIZE_MAX]


def hostile_size(n):
    if n in SIZE_EDGES:
        return bytes([2, SIZE_EDGES.index(n)])
    if n >= 64 << 30:
        return bytes([3]) + u64(n - (64 << 30))
    return bytes([0]) + size(n)


def hostile_alignment(n):
    if n in ALIGNMENT_EDGES:
        return bytes([2, ALIGNMENT_EDGES.index(n)])
    return bytes([0]) + alignment(n)


# c_api_ops -----------------------------------------------------------------

def ops_malloc(slot, n): return bytes([0, slot]) + size(n)
def ops_calloc(slot, count, n): return bytes([1, slot, count]) + size(n)
def ops_calloc_overflow(slot, shift): return bytes([1, slot, 7, shift])
def ops_realloc(slot, n): return bytes([2, slot]) + size(n)
def ops_aligned(slot, a, n, valid=True): return bytes([3, slot]) + alignment(a) + size(n) + bytes([1 if valid else 0])
def ops_free(slot): return bytes([4, slot])
def ops_inspect(slot): return bytes([5, slot])
def ops_rewrite(slot): return bytes([6, slot])
OPS_STATS = bytes([7])
def ops_protection(policy): return bytes([8, policy])  # 0 cached, 1 eager, 2 none
OPS_COLLECT = bytes([9])
def ops_impossible(which, extra=0): return bytes([10, which]) + u64(extra)
def ops_bulk_alloc(count, n): return bytes([11]) + u16(count) + size(n)
def ops_bulk_free(stride, start): return bytes([12, stride - 1, start])


C_API_OPS = {
    "small-blocks": b"".join([ops_malloc(0, 0), ops_malloc(1, 1), ops_malloc(2, 16), ops_malloc(3, 100),
                              ops_calloc(4, 3, 40), ops_inspect(2), OPS_STATS, ops_rewrite(3), ops_free(1),
                              ops_free(0), ops_inspect(3), OPS_STATS]),
    "realloc-ladder": b"".join([ops_malloc(0, 10)] + [ops_realloc(0, n) for n in
                               (100, 1000, 16384, 16385, 300000, 70000, 5000, 48, 0)] + [OPS_STATS]),
    "aligned-ladder": b"".join([ops_aligned(i, 1 << (4 + i), 100 + 997 * i) for i in range(16)] +
                               [OPS_STATS, ops_aligned(0, 64, 10, valid=False)] + [ops_free(i) for i in range(16)]),
    "bulk-slabs": b"".join([ops_bulk_alloc(4096, 16), ops_bulk_free(2, 0), OPS_STATS, ops_bulk_alloc(2000, 48),
                            ops_protection(1), ops_bulk_free(3, 1), ops_bulk_alloc(300, 4096), ops_bulk_free(1, 0),
                            OPS_COLLECT, OPS_STATS]),
    "failures": b"".join([ops_malloc(0, 64), ops_impossible(0), ops_impossible(1, 12345), ops_impossible(2, 1 << 50),
                          ops_impossible(3, 7), ops_calloc_overflow(1, 0), ops_calloc_overflow(1, 31),
                          ops_inspect(0), OPS_STATS]),
    "policies": b"".join([ops_protection(1), ops_malloc(0, 20000), ops_malloc(1, 2000), ops_free(0), ops_free(1),
                          ops_protection(2), ops_malloc(2, 3000), ops_malloc(3, 1 << 20), ops_free(2),
                          ops_protection(0), OPS_COLLECT, ops_free(3), OPS_STATS]),
}


# c_api_threads --------------------------------------------------------------

def thr_op(thread, opcode, slot, args=b""): return bytes([thread, opcode, slot]) + args
def thr_malloc(t, slot, n): return thr_op(t, 0, slot, size(n))
def thr_calloc(t, slot, count, n): return thr_op(t, 1, slot, bytes([count]) + size(n))
def thr_aligned(t, slot, a, n): return thr_op(t, 2, slot, alignment(a) + size(n))
def thr_realloc(t, slot, n): return thr_op(t, 3, slot, size(n))
def thr_free(t, slot): return thr_op(t, 4, slot)
def thr_check(t, slot): return thr_op(t, 5, slot)
def thr_send(t, slot, which=0): return thr_op(t, 6, slot, bytes([which]))
def thr_collect(t): return thr_op(t, 7, 0)
def thr_stats(t): return thr_op(t, 8, 0)


def ping_pong():
    ops = []
    for round_ in range(4):
        for slot in range(4):
            ops += [thr_malloc(0, slot, 16 + 300 * round_ + slot), thr_send(0, slot)]
        ops += [thr_check(1, s) for s in range(4)] + [thr_free(1, s) for s in range(2)]
    return bytes([0]) + b"".join(ops)


def ring():
    ops = []
    for t in range(3):
        ops += [thr_malloc(t, 0, 100 * (t + 1)), thr_aligned(t, 1, 4096, 5000), thr_send(t, 0), thr_send(t, 1, 1)]
    for t in range(3):
        ops += [thr_realloc(t, s, 20000) for s in range(3)] + [thr_send(t, 0)] + [thr_collect(t)]
    return bytes([1]) + b"".join(ops)


def large_cross():
    ops = [thr_malloc(0, 0, 1 << 20), thr_calloc(0, 1, 4, 70000), thr_send(0, 0), thr_send(0, 1)]
    ops += [thr_stats(1)] * 4 + [thr_realloc(1, 0, 40000), thr_free(1, 1), thr_send(1, 0), thr_stats(0)]
    return bytes([0]) + b"".join(ops)


C_API_THREADS = {"ping-pong": ping_pong(), "ring-of-three": ring(), "large-blocks": large_cross()}


# secbytes_views ---------------------------------------------------------------

def sb(op, buffer, args=b""): return bytes([op, buffer]) + args
def sb_span(b, data): return sb(0, b, bytes([len(data)]) + data)
def sb_string(b, data, spare=0): return sb(1, b, bytes([len(data), spare]) + data)
def sb_vector(b, data, spare=0): return sb(2, b, bytes([len(data), spare]) + data)
def sb_large(b, n, seed=1): return sb(3, b, u32(n) + bytes([seed]))
def sb_clear(b): return sb(4, b)
def sb_read(b): return sb(5, b)
def sb_end_read(b, index=0, move=False): return sb(6, b, bytes([index, 1 if move else 0]))
def sb_write(b): return sb(7, b)
def sb_write_through(b, offset, data): return sb(8, b, u16(offset) + bytes([len(data)]) + data)
def sb_end_write(b, move=False): return sb(9, b, bytes([1 if move else 0]))
def sb_check(b): return sb(10, b)
def sb_move(b, to): return sb(11, b, bytes([to]))
def sb_reset(b, capacity): return sb(12, b, u32(capacity))
def sb_overflow(b, extra=0): return sb(13, b, bytes([extra]))
def sb_threaded_read(b): return sb(14, b)


SECBYTES_VIEWS = {
    "append-forms": b"".join([sb_span(0, b"correct horse"), sb_string(0, b"battery staple", 4),
                              sb_vector(0, b"\x00\x01\x02\xff", 2), sb_string(0, b"short"), sb_read(0), sb_check(0),
                              sb_end_read(0), sb_clear(0), sb_span(0, b"again")]),
    "nested-reads-busy": b"".join([sb_span(0, b"secret" * 10), sb_read(0), sb_read(0), sb_read(0),
                                   sb_span(0, b"refused"), sb_clear(0), sb_write(0), sb_overflow(0),
                                   sb_end_read(0, 1, move=True), sb_end_read(0, 0), sb_check(0), sb_end_read(0, 0),
                                   sb_span(0, b"accepted")]),
    "write-view": b"".join([sb_string(1, b"0123456789" * 20), sb_write(1), sb_write_through(1, 5, b"XYZ"),
                            sb_read(1), sb_span(1, b"refused"), sb_write_through(1, 190, b"tail-overrun"),
                            sb_end_write(1, move=True), sb_read(1), sb_check(1), sb_end_read(1)]),
    "growth-and-moves": b"".join([sb_large(0, 5000), sb_large(0, 70000, 2), sb_move(0, 1), sb_span(0, b"fresh"),
                                  sb_move(1, 1), sb_reset(0, 10000), sb_large(0, 9000), sb_overflow(0, 3),
                                  sb_move(1, 0), sb_check(0), sb_check(1)]),
    "threaded-reads": b"".join([sb_large(0, 20000), sb_read(0), sb_threaded_read(0), sb_end_read(0),
                                sb_threaded_read(0), sb_write(0), sb_threaded_read(0), sb_end_write(0)]),
}


# malloc_family -------------------------------------------------------------------

COUNT_EDGES = [0, 1, 2, 3, SIZE_MAX, SIZE_MAX // 2, SIZE_MAX // 2 + 1, 1 << 32, 1 << 48]


def count(n):
    return bytes([3, COUNT_EDGES.index(n)]) if n > 16 else bytes([0, n])


def mf_malloc(slot, n): return bytes([0, slot]) + hostile_size(n)
def mf_calloc(slot, c, n): return bytes([1, slot]) + count(c) + hostile_size(n)
def mf_realloc(slot, n, null=False): return bytes([2, slot, 1 if null else 0]) + hostile_size(n)
def mf_reallocarray(slot, c, n, null=False): return bytes([3, slot, 1 if null else 0]) + count(c) + hostile_size(n)
def mf_posix_memalign(slot, a, n): return bytes([4, slot]) + hostile_alignment(a) + hostile_size(n)
def mf_aligned_alloc(slot, a, n): return bytes([5, slot]) + hostile_alignment(a) + hostile_size(n)
def mf_memalign(slot, a, n): return bytes([6, slot]) + hostile_alignment(a) + hostile_size(n)
def mf_valloc(slot, n): return bytes([7, slot]) + hostile_size(n)
def mf_pvalloc(slot, n): return bytes([8, slot]) + hostile_size(n)
def mf_free(slot): return bytes([9, slot])
def mf_usable(slot): return bytes([10, slot])


MALLOC_FAMILY = {
    "every-function": b"".join([mf_malloc(0, 100), mf_calloc(1, 3, 50), mf_realloc(0, 5000), mf_reallocarray(1, 4, 1000),
                                mf_posix_memalign(2, 64, 200), mf_aligned_alloc(3, 4096, 10), mf_memalign(4, 48, 300),
                                mf_valloc(5, 100), mf_pvalloc(6, 5000), mf_usable(0), mf_free(1), mf_free(1)]),
    "hostile-alignments": b"".join([mf_posix_memalign(0, a, 64) for a in (0, 1, 2, 3, 4, 12, 24, 4095, 4097)] +
                                   [mf_aligned_alloc(1, a, 64) for a in (0, 3, 48, 1 << 62, 1 << 63, SIZE_MAX)] +
                                   [mf_memalign(2, a, 64) for a in (0, 3, 4097, 3 << 18, 1 << 63, (1 << 63) + 1,
                                                                    SIZE_MAX)]),
    "hostile-sizes": b"".join([mf_malloc(0, SIZE_MAX), mf_malloc(1, 0), mf_calloc(2, SIZE_MAX, 2),
                               mf_calloc(2, 1 << 32, 1 << 40), mf_realloc(1, SIZE_MAX), mf_reallocarray(1, SIZE_MAX // 2 + 1, 2),
                               mf_realloc(1, 0), mf_realloc(3, 0, null=True), mf_valloc(4, 0), mf_pvalloc(5, 0),
                               mf_pvalloc(5, SIZE_MAX), mf_pvalloc(6, SIZE_MAX - 4096), mf_aligned_alloc(7, 64, SIZE_MAX),
                               mf_posix_memalign(8, 4096, 1 << 48), mf_usable(1)]),
}


def main():
    for target, seeds in (("c_api_ops", C_API_OPS), ("c_api_threads", C_API_THREADS),
                          ("secbytes_views", SECBYTES_VIEWS), ("malloc_family", MALLOC_FAMILY)):
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)


if __name__ == "__main__":
    main()
