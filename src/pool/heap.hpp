#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pool/hardening.hpp"
#include "pool/size_classes.hpp"
#include "pool/slab.hpp"

namespace secbits::pool {

/// A block of up to kCachedBlockMax bytes its owner freed and keeps for its
/// next allocation of the class (hardening levels 0 and 1, unless pages are
/// closed eagerly). It is wiped, still counts as live in its slab (its page
/// stays open) and is marked in the slab's quarantine bits, which every
/// free, realloc and usable_size check: a second free of it aborts.
struct CachedBlock {
  Slab* slab;
  std::uint32_t index;
};
inline constexpr std::uint32_t kCachedBlocksPerClass = 8;
inline constexpr std::size_t kCachedBlockMax = 1024;

/// A heap's slabs of one size class: the one it allocates from, those with
/// free blocks, and those it found full; and the blocks it freed last, the
/// newest on top. The next allocation takes the newest: a block the free
/// has just wiped is still in the cache, and taking it back touches none of
/// the slab's bitmap and page counts.
struct ClassLists {
  Slab* current = nullptr;
  Slab* available = nullptr;
  Slab* full = nullptr;
  std::uint32_t cached = 0;
  bool outgrew_page_units = false;  // two slabs of the class were full at once: its new slabs take 8 KiB units
  CachedBlock cache[kCachedBlocksPerClass] = {};
};

/// Per-thread allocation state. A thread takes a heap on its first
/// allocation and gives it back when it exits; the next new thread takes it
/// over with its slabs. Heaps are never freed. Each starts on a line pair
/// of its own: heaps lie side by side in a chunk, and one thread's byte
/// count, written on every call, must not share a line (or the pair the
/// hardware prefetches together) with the next heap's class lists.
struct alignas(128) ThreadHeap {
  ClassLists classes[kClassCount];
  Slab* pending = nullptr;           // slabs with pages waiting to be closed
  std::uint32_t pending_pages = 0;
  std::uint32_t batched_pages = 0;    // closed by batches since they last closed the current slabs' empty pages
  // Blocks freed and wiped but not yet free (hardening level 2 and up): the
  // oldest goes back to its slab when a new one comes in. Kept as slab and
  // index, as the free found them: the slab cannot go while one of its
  // blocks waits here (the block still counts as live in it).
  struct QuarantinedBlock {
    Slab* slab;
    std::uint32_t index;
  };
  QuarantinedBlock quarantine[kQuarantineSlots] = {};
  std::uint32_t quarantine_next = 0;
  std::uint64_t random_state = 0;    // which free block to hand out (level 3)
  std::atomic<std::int64_t> bytes_in_use{0};  // written by the owner only; may go negative (remote frees)
  ThreadHeap* next_registered = nullptr;      // every heap, for statistics and fork
  ThreadHeap* next_free = nullptr;
  bool shared = false;  // the heap of threads already torn down, used under a lock
};

/// The calling thread's heap: constant-initialised, so reading it needs no
/// TLS constructor, and null until the thread's first allocation.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local ThreadHeap* tl_heap;

/// Gives the calling thread a heap (slow path of its first allocation).
/// Null once the thread has been torn down, or if no memory is left.
ThreadHeap* attach_heap() noexcept;

/// In a forked child: the calling thread's heap is put aside, so that its
/// next allocation and free take the slow path (which relocks the pool
/// first); take_back_heap (or attach_heap) makes it the thread's again.
void set_aside_heap() noexcept;
ThreadHeap* take_back_heap() noexcept;

/// A heap no thread owns, for threads that allocate after their own heap was
/// given back at exit; its user serialises access to it.
ThreadHeap* new_shared_heap() noexcept;

/// Takes every free heap (those of exited threads) out of the free list, so
/// that collect() can tidy them, and puts them back; a thread starting
/// meanwhile gets a new heap.
ThreadHeap* take_free_heaps() noexcept;
void give_back_free_heaps(ThreadHeap* heaps) noexcept;

/// The most recently created heap; the rest follow through next_registered.
ThreadHeap* first_heap() noexcept;

/// Collects, closes and gives back all a heap can before its thread exits
/// (pool.cpp).
void trim_abandoned_heap(ThreadHeap& heap) noexcept;

/// Adds `delta` to a heap's byte count; owner only, so a plain load and store.
inline void count_bytes(ThreadHeap& heap, std::int64_t delta) noexcept {
  heap.bytes_in_use.store(heap.bytes_in_use.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace secbits::pool
