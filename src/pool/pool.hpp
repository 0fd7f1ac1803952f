#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "os/diagnostics.hpp"
#include "os/wipe.hpp"
#include "pool/block_check.hpp"
#include "pool/hardening.hpp"
#include "pool/heap.hpp"
#include "pool/layout.hpp"
#include "pool/options.hpp"
#include "pool/region.hpp"
#include "pool/size_classes.hpp"
#include "pool/slab.hpp"

// The pool's entry points. The fast paths are here, inline: allocation pops
// the lowest free block of the thread's current slab for the size class,
// free pushes a block back to a slab of the thread's own heap. Neither makes
// a syscall or takes a lock; everything else is a named slow path.
namespace secbits::pool {

inline constexpr std::size_t kDefaultAlignment = 16;

static_assert((std::size_t{1} << kMediumUnitShift) / kClassSizes[0] <= UINT16_MAX, "Slab::page_live counts the blocks of a unit");

[[gnu::noinline]] void* allocate_slow(std::size_t size, std::size_t alignment) noexcept;
[[gnu::noinline]] void free_not_local(void* pointer) noexcept;
/// Pages left without a live block: what happens next depends on the page
/// protection policy. On a free (`from_free`) this may also close the heap's
/// batch of waiting pages and give back the slab; the caller must not touch
/// the slab afterwards.
[[gnu::noinline]] void on_pages_emptied(Slab& slab, ThreadHeap& heap, std::uint32_t pages, bool from_free) noexcept;
[[gnu::noinline]] void on_slab_no_longer_full(Slab& slab, ThreadHeap& heap) noexcept;
/// Opens a block's closed pages before it is handed out (under the cached
/// policy, every closed page of the slab with them); false if they could not
/// be opened (the kernel's mapping limit).
[[gnu::noinline]] bool open_block_pages(Slab& slab, ThreadHeap& heap, std::uint32_t pages) noexcept;
/// A live block a caller handed in: its slab and index (small), or no slab
/// (large), and its usable size.
struct LiveBlock {
  Slab* slab;
  std::uint32_t index;
  std::size_t usable_size;
};
/// The one checked lookup from a caller's pointer to its block: aborts with
/// one line naming the pointer unless it starts a live block of the pool.
LiveBlock find_live_block(const void* pointer, BlockUse use) noexcept;

/// The index of the live block that starts at `pointer` in `slab` (a slab
/// that is committed); aborts naming the pointer if it does not start a
/// block, or if that block is free, whether freed here, by another thread,
/// or waiting in its owner's quarantine or cache (quarantine_bits). Every
/// path that takes a small block from a caller (free, realloc, usable_size)
/// goes through it.
inline std::uint32_t live_block_index(const Slab& slab, const void* pointer, BlockUse use) noexcept {
  const std::uint32_t index = slab.block_at(static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - slab.base));
  if (index == UINT32_MAX) [[unlikely]] not_a_block(pointer, use);
  const std::uint64_t bit = std::uint64_t{1} << (index & 63);
  const std::uint64_t free = slab.free_bits[index >> 6].load(std::memory_order_relaxed) |
                             slab.remote_bits[index >> 6].load(std::memory_order_relaxed) |
                             slab.quarantine_bits[index >> 6].load(std::memory_order_relaxed);
  if ((free & bit) != 0) [[unlikely]] block_already_freed(pointer, use);
  return index;
}

/// Marks block `index` freed but held by its owner (quarantine or cache), or
/// no longer; owner only.
inline void set_quarantine_bit(Slab& slab, std::uint32_t index, bool held) noexcept {
  std::atomic<std::uint64_t>& word = slab.quarantine_bits[index >> 6];
  const std::uint64_t bit = std::uint64_t{1} << (index & 63);
  const std::uint64_t bits = word.load(std::memory_order_relaxed);
  word.store(held ? bits | bit : bits & ~bit, std::memory_order_relaxed);
}

/// The first and last unit a block at `offset` of the slab touches.
struct PageSpan {
  std::size_t first;
  std::size_t last;
};
inline PageSpan page_span(const Slab& slab, std::size_t offset) noexcept {
  return {offset >> slab.unit_shift, (offset + slab.block_size - 1) >> slab.unit_shift};
}

/// Marks free block `bit` of word `word` (whose bits are `bits`) live: its
/// pages are open and none waits to be closed.
[[gnu::always_inline]] inline void* hand_out_block(Slab& slab, ThreadHeap& heap, std::uint32_t word,
                                                   std::uint64_t bits, unsigned bit) noexcept {
  const std::size_t offset = std::size_t{word * 64 + bit} * slab.block_size;
  slab.free_bits[word].store(bits & ~(std::uint64_t{1} << bit), std::memory_order_relaxed);
  const PageSpan span = page_span(slab, offset);
  for (std::size_t page = span.first; page <= span.last; ++page) ++slab.page_live[page];
  ++slab.live;
  count_bytes(heap, slab.block_size);
  return slab.base + offset;
}

/// hand_out_block for a block with a closed page or a page waiting to be
/// closed: opens the first, takes the second off the batch; null if the
/// pages could not be opened (the kernel's mapping limit).
[[gnu::noinline]] void* hand_out_block_reopening(Slab& slab, ThreadHeap& heap, std::uint32_t word,
                                                 unsigned bit) noexcept;

/// Whether every page of free block `bit` of word `word` is open and none
/// waits to be closed (waiting pages are open: one test finds either).
[[gnu::always_inline]] inline bool block_pages_ready(const Slab& slab, std::uint32_t word, unsigned bit) noexcept {
  const std::uint32_t pages = units_of(slab, std::size_t{word * 64 + bit} * slab.block_size);
  return ((slab.open_pages ^ slab.pending_close) & pages) == pages;
}

/// Hands out a free block of the slab's hint word, or null when that word is
/// empty: the lowest one, or with `start` (hardening level 3) the first at or
/// after bit `start`, wrapping around.
[[gnu::always_inline]] inline void* take_block(Slab& slab, ThreadHeap& heap, unsigned start = 0) noexcept {
  const std::uint32_t word = slab.hint;
  const std::uint64_t bits = slab.free_bits[word].load(std::memory_order_relaxed);
  if (bits == 0) [[unlikely]] return nullptr;
  const unsigned bit = start == 0 ? static_cast<unsigned>(std::countr_zero(bits))
                                  : (static_cast<unsigned>(std::countr_zero(std::rotr(bits, static_cast<int>(start)))) +
                                     start) & 63;
  if (!block_pages_ready(slab, word, bit)) [[unlikely]] return hand_out_block_reopening(slab, heap, word, bit);
  return hand_out_block(slab, heap, word, bits, bit);
}

/// Sets block `index`'s free bit, keeping the hint a lower bound of the
/// free words (owner only).
inline void mark_block_free(Slab& slab, std::uint32_t index) noexcept {
  const std::uint32_t word = index >> 6;
  slab.free_bits[word].store(slab.free_bits[word].load(std::memory_order_relaxed) | (std::uint64_t{1} << (index & 63)),
                             std::memory_order_relaxed);
  if (word < slab.hint) slab.hint = word;
}

/// Returns block `index` (at `offset`) to its slab's free blocks; the block is
/// already wiped and its free bit is still clear.
[[gnu::always_inline]] inline void return_block(Slab& slab, ThreadHeap& heap, std::uint32_t index, std::size_t offset,
                         bool from_free) noexcept {
  mark_block_free(slab, index);
  std::uint32_t emptied = 0;
  const PageSpan span = page_span(slab, offset);
  for (std::size_t page = span.first; page <= span.last; ++page) {
    if (--slab.page_live[page] == 0) emptied |= std::uint32_t{1} << page;
  }
  --slab.live;
  if (slab.list == SlabList::Full) [[unlikely]] on_slab_no_longer_full(slab, heap);
  if (emptied == 0) return;
  if (g_page_protection.load(std::memory_order_relaxed) == PageProtection::Cached) [[likely]] {
    // The current slab is where the next blocks come from: its empty pages
    // stay open until a batch or collect() closes them, so that a block freed
    // and allocated again costs no bookkeeping at all.
    if (slab.list == SlabList::Current) return;
    // Otherwise, inline: the pages join the heap's batch.
    const std::uint32_t fresh = emptied & ~slab.pending_close;
    if (slab.in_pending_list && heap.pending_pages + pages_in(slab, fresh) <= kPendingPageLimit) {
      slab.pending_close |= fresh;
      heap.pending_pages += pages_in(slab, fresh);
      return;
    }
  }
  on_pages_emptied(slab, heap, emptied, from_free);
}

/// free_local's way for a block whose free changes a list or a page's
/// state: wipe, then return_block.
[[gnu::noinline]] void free_local_returning(Slab& slab, ThreadHeap& heap, void* pointer, std::uint32_t index) noexcept;

/// A free by the thread whose heap owns the slab. The common case (the slab
/// stays on its list, and the block's page keeps a live block or is the
/// current slab's, which stays open) is done inline, the wipe last, so that
/// nothing is kept across the call to memset: no register to save. Only this
/// thread hands out the slab's blocks, so none can be handed out between its
/// free bit and the wipe.
inline void free_local(Slab& slab, ThreadHeap& heap, void* pointer) noexcept {
  const std::uint32_t index = live_block_index(slab, pointer, BlockUse::Free);
  const std::size_t size = slab.block_size;
  ClassLists& lists = heap.classes[slab.class_index];
  // Eager protection closes a page at the very free that empties it: a
  // cached block would keep it open.
  if (size <= kCachedBlockMax && lists.cached < kCachedBlocksPerClass &&
      g_page_protection.load(std::memory_order_relaxed) != PageProtection::Eager) [[likely]] {
    set_quarantine_bit(slab, index, true);
    lists.cache[lists.cached++] = {&slab, index};
    count_bytes(heap, -static_cast<std::int64_t>(size));
    os::secure_wipe(pointer, size);
    return;
  }
  const PageSpan span = page_span(slab, std::size_t{index} * size);
  // Tested in this order because the first test is the one that predicts well.
  if (slab.list != SlabList::Current ||
      g_page_protection.load(std::memory_order_relaxed) != PageProtection::Cached) [[unlikely]] {
    if (slab.list == SlabList::Full || span.first != span.last || slab.page_live[span.first] <= 1) {
      return free_local_returning(slab, heap, pointer, index);
    }
  }
  mark_block_free(slab, index);
  for (std::size_t page = span.first; page <= span.last; ++page) --slab.page_live[page];
  --slab.live;
  count_bytes(heap, -static_cast<std::int64_t>(size));
  os::secure_wipe(pointer, size);
}

/// The paths of hardening level 2 and up (hardened.cpp): the checks on
/// every block handed out and freed, and the quarantine.
[[gnu::noinline]] void* allocate_hardened(std::size_t size, std::size_t alignment) noexcept;
[[gnu::noinline]] void free_local_hardened(Slab& slab, ThreadHeap& heap, void* pointer) noexcept;

/// The block the heap freed last of the class (lists.cached > 0).
[[gnu::always_inline]] inline void* take_cached_block(ClassLists& lists, ThreadHeap& heap) noexcept {
  const CachedBlock block = lists.cache[--lists.cached];
  Slab& slab = *block.slab;
  set_quarantine_bit(slab, block.index, false);
  count_bytes(heap, slab.block_size);
  return slab.base + std::size_t{block.index} * slab.block_size;
}

/// A block of the calling thread's current slab for `size` (1 to the
/// largest class), or null for the slow path. With `kCheckZero` (level 2) the
/// block is checked still zero as its free left it: anything else is a write
/// after free.
template <bool kCheckZero>
[[gnu::always_inline]] inline void* take_current_block(std::size_t size) noexcept {
  ThreadHeap* heap = tl_heap;
  if (heap == nullptr || size - 1 >= kMaxSmallSize) [[unlikely]] return nullptr;
  ClassLists& lists = heap->classes[class_of(size)];
  // Hardened pools never cache a freed block (they quarantine it).
  if (!kCheckZero && lists.cached != 0) return take_cached_block(lists, *heap);
  Slab* slab = lists.current;
  if (slab == nullptr) [[unlikely]] return nullptr;
  void* block = take_block(*slab, *heap);
  if constexpr (kCheckZero) {
    if (block != nullptr && !is_zero(block, slab->block_size)) [[unlikely]] written_after_free(block, slab->block_size);
  }
  return block;
}

/// allocate at hardening level 2 and up (hardened.cpp): out of line, so
/// that the plain path saves no register for it.
[[gnu::noinline]] void* allocate_checked(std::size_t size) noexcept;

/// `size` zeroed bytes, 16-byte aligned; null with errno ENOMEM on failure.
/// Size 0 takes the slow path (wrapping below), where hardening level 1 and
/// up hand out a block that faults on any access. Levels 0 and 1 read one
/// flag.
inline void* allocate(std::size_t size) noexcept {
  if (g_hardened.load(std::memory_order_relaxed)) [[unlikely]] return allocate_checked(size);
  if (void* block = take_current_block<false>(size)) [[likely]] return block;
  return allocate_slow(size, kDefaultAlignment);
}

/// calloc's block above the largest class: zero without touching a page
/// the program has not (see large_allocate).
[[gnu::noinline]] void* allocate_large_zeroed(std::size_t size) noexcept;

/// calloc's block. Every block was wiped when freed, but a write after free
/// may have dirtied it since: only hardening level 2 and up check that it is
/// still zero when handed out, so below that it is cleared again.
inline void* allocate_zeroed(std::size_t size) noexcept {
  if (size > kMaxSmallSize) [[unlikely]] return allocate_large_zeroed(size);
  void* block = allocate(size);
  if (block != nullptr && !g_hardened.load(std::memory_order_relaxed)) __builtin_memset(block, 0, size);
  return block;
}

/// `size` zeroed bytes aligned to `alignment` (a power of two).
inline void* allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
  if (alignment <= kDefaultAlignment) return allocate(size);
  if (g_hardened.load(std::memory_order_relaxed)) [[unlikely]] return allocate_hardened(size, alignment);
  return allocate_slow(size, alignment);
}

/// deallocate for a pointer whose region_offset the caller has at hand.
inline void deallocate_at(void* pointer, std::uintptr_t offset) noexcept {
  if (offset < g_region.small_bytes.load(std::memory_order_relaxed)) [[likely]] {
    Slab& slab = g_region.slabs[offset >> kSlotShift];
    ThreadHeap* heap = tl_heap;
    if (heap != nullptr && slab.owner.load(std::memory_order_relaxed) == heap) [[likely]] {
      if (g_hardened.load(std::memory_order_relaxed)) [[unlikely]] free_local_hardened(slab, *heap, pointer);
      else free_local(slab, *heap, pointer);
      return;
    }
  }
  free_not_local(pointer);
}

/// Wipes and frees a block of the pool; aborts for anything else but null.
inline void deallocate(void* pointer) noexcept { deallocate_at(pointer, region_offset(pointer)); }

/// A free that says the block's size (C23's free_sized, C++'s sized delete),
/// `alignment` 0 when the call does not say it. From hardening level 1 a size
/// that does not fit the block aborts with one line.
/// The full check, then the free: a call that is the last thing the inline
/// path does, so that its callers keep nothing across it.
[[gnu::noinline]] void deallocate_size_checked(void* pointer, std::size_t size, std::size_t alignment) noexcept;
inline void deallocate_sized(void* pointer, std::size_t size, std::size_t alignment) noexcept {
  if (g_hardening.load(std::memory_order_relaxed) != 0) [[likely]] {
    const std::uintptr_t offset =
        reinterpret_cast<std::uintptr_t>(pointer) - g_region.base.load(std::memory_order_relaxed);
    // The common case in one compare: a plain request of the block's class.
    const std::size_t request = request_bytes(size);
    if (offset >= g_region.small_bytes.load(std::memory_order_relaxed) || alignment > kDefaultAlignment ||
        request - 1 >= kMaxSmallSize || g_region.slabs[offset >> kSlotShift].class_index != class_of(request))
        [[unlikely]] {
      return deallocate_size_checked(pointer, size, alignment);
    }
  }
  deallocate(pointer);
}

/// Usable bytes of a live block of the pool; aborts for anything else.
std::size_t usable_size(const void* pointer) noexcept;

/// Resizes as C's realloc does, wiping the old block when the data moves.
void* reallocate(void* pointer, std::size_t size) noexcept;

/// Closes the calling thread's waiting pages, gives back its empty slabs,
/// and closes the freed large spans waiting open.
void collect_thread() noexcept;

}  // namespace secbits::pool
