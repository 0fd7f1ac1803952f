#include "pool/pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "pool/fork.hpp"
#include "pool/hardened.hpp"
#include "pool/invariants.hpp"
#include "pool/large.hpp"
#include "pool/options.hpp"
#include "pool/stats.hpp"
#include "pool/zero_size.hpp"

namespace secbits::pool {

namespace {

// Threads whose heap is gone (allocations from TLS destructors that run after
// ours) share one heap under a lock.
constinit std::mutex shared_heap_mutex;
constinit ThreadHeap* shared_heap = nullptr;

void push(Slab*& head, Slab& slab, SlabList list) noexcept {
  slab.prev = nullptr;
  slab.next = head;
  if (head != nullptr) head->prev = &slab;
  head = &slab;
  slab.list = list;
}

void unlink(ClassLists& lists, Slab& slab) noexcept {
  Slab*& head = slab.list == SlabList::Full ? lists.full : lists.available;
  if (slab.list == SlabList::Current) {
    lists.current = nullptr;
  } else {
    if (slab.prev != nullptr) slab.prev->next = slab.next;
    else head = slab.next;
    if (slab.next != nullptr) slab.next->prev = slab.prev;
  }
  slab.prev = slab.next = nullptr;
  slab.list = SlabList::None;
}

void add_pending(Slab& slab, ThreadHeap& heap, std::uint32_t pages) noexcept {
  const std::uint32_t fresh = pages & ~slab.pending_close;
  slab.pending_close |= fresh;
  heap.pending_pages += pages_in(slab, fresh);
  if (!slab.in_pending_list) {
    slab.in_pending_list = true;
    slab.next_pending = heap.pending;
    heap.pending = &slab;
  }
}

void release_slab(Slab& slab, ThreadHeap& heap) noexcept {
  unlink(heap.classes[slab.class_index], slab);
  slab.owner.store(nullptr, std::memory_order_relaxed);
  give_back_slab(&slab);
}

/// Pages of the slab that are open and hold no live block.
std::uint32_t empty_open_pages(const Slab& slab) noexcept {
  std::uint32_t empty = 0;
  for (std::uint32_t page = 0; page < slab.units; ++page) {
    if (slab.page_live[page] == 0) empty |= std::uint32_t{1} << page;
  }
  return empty & slab.open_pages;
}

/// Closes the slab's waiting pages and takes them off the heap's count; gives
/// the slab back when no live block is left in it. The caller has taken the
/// slab off the heap's pending list.
void close_waiting_pages(Slab& slab, ThreadHeap& heap) noexcept {
  slab.next_pending = nullptr;
  slab.in_pending_list = false;
  heap.pending_pages -= pages_in(slab, slab.pending_close);
  close_pages(slab, slab.pending_close);
  slab.pending_close = 0;
  debug_check_slab(slab);
  if (slab.live == 0 && slab.list != SlabList::Current) release_slab(slab, heap);
}

/// Pages a close of the slab's waiting units frees per mprotect call: a slab
/// left without a live block (closed and given back whole) ranks first.
std::uint32_t pages_per_close(const Slab& slab) noexcept {
  const std::uint32_t waiting = slab.pending_close;
  if ((slab.live == 0 && slab.list != SlabList::Current) || waiting == 0) return UINT32_MAX;
  return pages_in(slab, waiting) / count_bits(waiting & ~(waiting << 1));
}

/// Closes waiting pages of the heap until at most `keep` of them wait (0: all,
/// and the pending list empties), and gives back the slabs left without a
/// live block. The slabs that close the most pages per mprotect call go
/// first: a batch that closed every waiting page made a working set just past
/// the batch close and reopen all of it each time round, one call per
/// scattered block; now it closes about its excess, whole empty slabs first.
/// The empty pages of the heap's current slabs close with every 4 MiB the
/// batches close (the cadence of the batches that closed everything): a
/// thread allocates from them, so each such close is likely undone soon.
void flush_pending(ThreadHeap& heap, std::uint32_t keep) noexcept {
  const std::uint32_t waiting_before = heap.pending_pages;
  static constexpr std::uint32_t kFewerPagesPerClose[] = {UINT32_MAX, 16, 4, 0};
  for (const std::uint32_t least : kFewerPagesPerClose) {
    if (keep == 0 && least != 0) continue;
    for (Slab** link = &heap.pending; *link != nullptr && (keep == 0 || heap.pending_pages > keep);) {
      Slab& slab = **link;
      if (pages_per_close(slab) < least) {
        link = &slab.next_pending;
        continue;
      }
      *link = slab.next_pending;
      close_waiting_pages(slab, heap);
    }
  }
  heap.batched_pages += waiting_before - heap.pending_pages;
  if (keep != 0 && heap.batched_pages < kPendingPageLimit) return;
  heap.batched_pages = 0;
  for (ClassLists& lists : heap.classes) {
    if (Slab* current = lists.current) close_pages(*current, empty_open_pages(*current) & ~current->pending_close);
  }
}

/// Takes the blocks other threads freed back into the slab's free bits.
bool collect_remote(Slab& slab, ThreadHeap& heap) noexcept {
  if (!slab.has_remote.exchange(false, std::memory_order_acquire)) return false;
  bool collected = false;
  for (std::uint32_t word = 0; word < slab.bitmap_words(); ++word) {
    if (slab.remote_bits[word].load(std::memory_order_relaxed) == 0) continue;
    std::uint64_t bits = slab.remote_bits[word].exchange(0, std::memory_order_acquire);
    while (bits != 0) {
      const std::uint32_t index = word * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      const std::size_t offset = std::size_t{index} * slab.block_size;
      if ((slab.free_bits[word].load(std::memory_order_relaxed) >> (index & 63)) & 1) {
        block_already_freed(slab.base + offset, BlockUse::Free);  // freed here and by another thread
      }
      return_block(slab, heap, index, offset, false);
      collected = true;
    }
  }
  return collected;
}

/// take_block, after moving the hint past empty words.
void* take_block_scanning(Slab& slab, ThreadHeap& heap) noexcept {
  const std::uint32_t words = slab.bitmap_words();
  while (slab.hint < words && slab.free_bits[slab.hint].load(std::memory_order_relaxed) == 0) ++slab.hint;
  if (slab.hint == words) {
    slab.hint = 0;
    return nullptr;
  }
  return take_block(slab, heap);
}

void initialise_slab(Slab& slab, ThreadHeap& heap, std::size_t class_index, SlabShape shape) noexcept {
  const std::uint32_t size = kClassSizes[class_index];
  slab.block_size = size;
  slab.block_count = shape.block_count;
  slab.reciprocal = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) + size - 1) / size);
  slab.class_index = static_cast<std::uint8_t>(class_index);
  slab.live = 0;
  slab.hint = 0;
  std::fill(std::begin(slab.page_live), std::end(slab.page_live), std::uint16_t{0});
  for (std::uint32_t word = 0; word < kBitmapWords; ++word) {
    const std::uint32_t first = word * 64;
    std::uint64_t bits = 0;
    if (first + 64 <= slab.block_count) bits = ~std::uint64_t{0};
    else if (first < slab.block_count) bits = (std::uint64_t{1} << (slab.block_count - first)) - 1;
    slab.free_bits[word].store(bits, std::memory_order_relaxed);
    slab.remote_bits[word].store(0, std::memory_order_relaxed);
    slab.quarantine_bits[word].store(0, std::memory_order_relaxed);
  }
  slab.has_remote.store(false, std::memory_order_relaxed);
  slab.owner.store(&heap, std::memory_order_relaxed);
  switch (g_page_protection.load(std::memory_order_relaxed)) {
    case PageProtection::Eager:
      close_pages(slab, slab.all_units());  // opened unit by unit as blocks are handed out
      break;
    case PageProtection::Cached:
      // One syscall opens the whole slab; the pages no block reaches before
      // the next batch are closed by it.
      (void)open_pages(slab, slab.all_units());
      add_pending(slab, heap, slab.all_units());
      break;
    case PageProtection::None:
      (void)open_pages(slab, slab.all_units());
      break;
  }
}

void* allocate_small(ThreadHeap& heap, std::size_t class_index) noexcept {
  debug_check_heap(heap);
  ClassLists& lists = heap.classes[class_index];
  if (Slab* current = lists.current) {
    if (void* block = take_block_scanning(*current, heap)) return block;
    if (collect_remote(*current, heap)) {
      if (void* block = take_block_scanning(*current, heap)) return block;
    }
    debug_check_slab(*current);
    unlink(lists, *current);
    push(lists.full, *current, SlabList::Full);
  }
  // Full slabs that other threads have freed into become available here.
  for (Slab* slab = lists.full; slab != nullptr;) {
    Slab* next = slab->next;
    collect_remote(*slab, heap);
    slab = next;
  }
  if (Slab* slab = lists.available) {
    unlink(lists, *slab);
    lists.current = slab;
    slab->list = SlabList::Current;
    if (void* block = take_block_scanning(*slab, heap)) return block;
    // An available slab has free blocks: failing to hand one out means its
    // pages could not be opened, at the kernel's mapping limit.
    errno = ENOMEM;
    return nullptr;
  }
  // The current slab, if any, just went full: two full ones, and the class
  // outgrew the page-unit slabs, for good (a heap whose slabs of a class go
  // and come back would otherwise change shapes, and miss the empty ones).
  if (lists.full != nullptr && lists.full->next != nullptr) lists.outgrew_page_units = true;
  const SlabShape shape = slab_shape(kClassSizes[class_index], lists.outgrew_page_units);
  Slab* slab = take_slab(shape);
  if (slab == nullptr) return nullptr;
  initialise_slab(*slab, heap, class_index, shape);
  debug_check_slab(*slab);
  lists.current = slab;
  slab->list = SlabList::Current;
  (void)sample_bytes_in_use();
  void* block = take_block_scanning(*slab, heap);
  if (block == nullptr) errno = ENOMEM;
  return block;
}

std::size_t class_for(std::size_t size, std::size_t alignment) noexcept {
  if (alignment <= kDefaultAlignment) return size <= kMaxSmallSize ? class_of(size) : kClassCount;
  if (alignment > kPageSize) return kClassCount;
  return class_of(size, alignment);
}

void* allocate_large(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  void* block = large_allocate(size, std::max(alignment, kPageSize), zeroed);
  if (block != nullptr) {
    g_counters.large_bytes_in_use.fetch_add(static_cast<std::int64_t>(large_usable_size(block, BlockUse::Free)),
                                            std::memory_order_relaxed);
    (void)sample_bytes_in_use();
  }
  return block;
}

}  // namespace

void* allocate_large_zeroed(std::size_t size) noexcept {
  relock_if_forked();
  if (!ensure_initialised()) return nullptr;
  install_fork_handlers();
  return allocate_large(size, kDefaultAlignment, true);
}

void* allocate_slow(std::size_t size, std::size_t alignment) noexcept {
  if (!ensure_initialised()) return nullptr;
  // The first allocation of the process, before the level was fixed.
  if (g_hardened.load(std::memory_order_relaxed)) return allocate_hardened(size, alignment);
  return allocate_from_pool(size, alignment);
}

void* allocate_from_pool(std::size_t size, std::size_t alignment) noexcept {
  relock_if_forked();
  if (!ensure_initialised()) return nullptr;
  install_fork_handlers();
  if (size == 0 && g_hardening.load(std::memory_order_relaxed) != 0) {
    if (alignment <= kDefaultAlignment) return allocate_zero_size();
    size = 1;  // no zero-size block is aligned beyond 16 bytes
  }
  const std::size_t class_index = class_for(size, alignment);
  if (class_index == kClassCount) return allocate_large(size, alignment, false);
  if (ThreadHeap* heap = tl_heap != nullptr ? tl_heap : attach_heap()) return allocate_small(*heap, class_index);
  std::lock_guard lock(shared_heap_mutex);
  if (shared_heap == nullptr) shared_heap = new_shared_heap();
  if (shared_heap == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  return allocate_small(*shared_heap, class_index);
}

void free_not_local(void* pointer) noexcept {
  if (pointer == nullptr) return;
  os::ErrnoGuard keep;
  relock_if_forked();
  const LiveBlock block = find_live_block(pointer, BlockUse::Free);
  if (block.slab == nullptr) {
    large_free(pointer);
    g_counters.large_bytes_in_use.fetch_sub(static_cast<std::int64_t>(block.usable_size), std::memory_order_relaxed);
    return;
  }
  Slab& slab = *block.slab;
  if (slab.zero_size) {
    free_zero_size(slab, block.index);
    return;
  }
  // A block of another heap: wipe it here, and leave it for the owner to
  // collect through the slab's remote bits (no lock, no syscall).
  if (g_canaries.load(std::memory_order_relaxed)) check_canary(slab, pointer);
  os::secure_wipe(pointer, slab.block_size);
  const std::uint64_t bit = std::uint64_t{1} << (block.index & 63);
  if ((slab.remote_bits[block.index >> 6].fetch_or(bit, std::memory_order_release) & bit) != 0) {
    block_already_freed(pointer, BlockUse::Free);
  }
  slab.has_remote.store(true, std::memory_order_release);
  if (ThreadHeap* heap = tl_heap) {
    count_bytes(*heap, -static_cast<std::int64_t>(slab.block_size));
  } else {
    g_counters.bytes_freed_without_heap.fetch_add(slab.block_size, std::memory_order_relaxed);
  }
}

void on_pages_emptied(Slab& slab, ThreadHeap& heap, std::uint32_t pages, bool from_free) noexcept {
  os::ErrnoGuard keep;  // free() must not change errno, and this may make syscalls
  const PageProtection protection = g_page_protection.load(std::memory_order_relaxed);
  if (protection == PageProtection::Cached) {
    add_pending(slab, heap, pages);
    // The batch gives back the slabs it leaves empty, this one included.
    if (from_free && heap.pending_pages > kPendingPageLimit) flush_pending(heap, kPendingPagesAfterBatch);
    return;
  }
  if (protection == PageProtection::Eager) close_pages(slab, pages);
  // A collection walks the heap's lists: it leaves empty slabs where they
  // are, to be reused; a free gives them back for any thread to take.
  if (!from_free || slab.live != 0 || slab.list == SlabList::Current) return;
  if (slab.in_pending_list) {
    flush_pending(heap, 0);  // waiting from before a policy change: the batch gives it back
  } else {
    release_slab(slab, heap);
  }
}

void on_slab_no_longer_full(Slab& slab, ThreadHeap& heap) noexcept {
  ClassLists& lists = heap.classes[slab.class_index];
  unlink(lists, slab);
  push(lists.available, slab, SlabList::Available);
}

bool open_block_pages(Slab& slab, ThreadHeap& heap, std::uint32_t pages) noexcept {
  os::ErrnoGuard keep;
  if (g_page_protection.load(std::memory_order_relaxed) != PageProtection::Cached) return open_pages(slab, pages);
  // A slab whose pages a batch closed is refilled block by block, page
  // after page: opening all its closed pages now costs one mprotect instead
  // of one per page. Those the next blocks do not reach wait in the batch,
  // as a new slab's do (a closed page holds no live block).
  const std::uint32_t closed = slab.all_units() & ~slab.open_pages;
  const bool opened = open_pages(slab, closed);
  if (const std::uint32_t waiting = closed & slab.open_pages & ~pages) add_pending(slab, heap, waiting);
  return opened || (slab.open_pages & pages) == pages;
}

void* hand_out_block_reopening(Slab& slab, ThreadHeap& heap, std::uint32_t word, unsigned bit) noexcept {
  const std::uint32_t pages = units_of(slab, std::size_t{word * 64 + bit} * slab.block_size);
  if ((slab.open_pages & pages) != pages && !open_block_pages(slab, heap, pages)) return nullptr;
  // A page waiting to be closed holds a live block again: it stops waiting.
  if (const std::uint32_t waiting = slab.pending_close & pages) {
    slab.pending_close &= ~waiting;
    heap.pending_pages -= pages_in(slab, waiting);
  }
  return hand_out_block(slab, heap, word, slab.free_bits[word].load(std::memory_order_relaxed), bit);
}

void free_local_returning(Slab& slab, ThreadHeap& heap, void* pointer, std::uint32_t index) noexcept {
  os::secure_wipe(pointer, slab.block_size);
  count_bytes(heap, -static_cast<std::int64_t>(slab.block_size));
  return_block(slab, heap, index, std::size_t{index} * slab.block_size, true);
}

void not_a_block(const void* pointer, BlockUse use) noexcept {
  static constexpr const char* kWhat[] = {"invalid free (not the start of a block)",
                                          "realloc of a pointer that does not start a block",
                                          "usable size asked of a pointer that does not start a block"};
  os::fatal(kWhat[static_cast<unsigned>(use)], pointer);
}

void block_already_freed(const void* pointer, BlockUse use) noexcept {
  static constexpr const char* kWhat[] = {"double free", "realloc of a freed block", "usable size asked of a freed block"};
  os::fatal(kWhat[static_cast<unsigned>(use)], pointer);
}

LiveBlock find_live_block(const void* pointer, BlockUse use) noexcept {
  if (!owns(pointer)) {
    static constexpr const char* kWhat[] = {"invalid free (not a pointer secbits owns)",
                                            "realloc of a pointer secbits does not own",
                                            "usable size asked of a pointer secbits does not own"};
    os::fatal(kWhat[static_cast<unsigned>(use)], pointer);
  }
  const std::uintptr_t offset =
      reinterpret_cast<std::uintptr_t>(pointer) - g_region.base.load(std::memory_order_relaxed);
  if (offset >= g_region.small_bytes.load(std::memory_order_relaxed)) {
    return {nullptr, 0, large_usable_size(pointer, use)};
  }
  Slab& slab = g_region.slabs[offset >> kSlotShift];
  if (!slab.committed && !slab.zero_size) not_a_block(pointer, use);
  return {&slab, live_block_index(slab, pointer, use), slab.zero_size ? 0 : usable_bytes(slab.block_size)};
}

std::size_t usable_size(const void* pointer) noexcept {
  if (pointer == nullptr) return 0;
  return find_live_block(pointer, BlockUse::UsableSize).usable_size;
}

void* reallocate(void* pointer, std::size_t size) noexcept {
  if (pointer == nullptr) return allocate(size);
  const LiveBlock block = find_live_block(pointer, BlockUse::Reallocate);
  const std::size_t old_size = block.usable_size;
  if (block.slab != nullptr && !block.slab->zero_size) {
    if (g_canaries.load(std::memory_order_relaxed)) check_canary(*block.slab, pointer);
    if (request_bytes(size) <= kMaxSmallSize && class_of(request_bytes(size)) == block.slab->class_index) return pointer;
  }
  if (block.slab == nullptr && size > kMaxSmallSize && large_resize_in_place(pointer, size)) {
    const std::size_t new_size = large_usable_size(pointer, BlockUse::Reallocate);
    g_counters.large_bytes_in_use.fetch_add(static_cast<std::int64_t>(new_size) - static_cast<std::int64_t>(old_size),
                                            std::memory_order_relaxed);
    return pointer;
  }
  void* moved = allocate(size);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, pointer, std::min(old_size, size));
  deallocate(pointer);
  return moved;
}

namespace {

/// Returns every block the heap keeps cached to its slab.
void return_cached_blocks(ThreadHeap& heap) noexcept {
  for (ClassLists& lists : heap.classes) {
    while (lists.cached != 0) {
      const CachedBlock block = lists.cache[--lists.cached];
      set_quarantine_bit(*block.slab, block.index, false);
      return_block(*block.slab, heap, block.index, std::size_t{block.index} * block.slab->block_size, false);
    }
  }
}

/// Collects every remote free, closes every waiting page and gives back
/// every slab without a live block; the current slabs too when `keep_current`
/// is false (a heap whose thread is gone: its empty slabs would otherwise
/// stay committed and locked, against the process's lock budget, until a new
/// thread takes the heap).
void trim(ThreadHeap& heap, bool keep_current) noexcept {
  debug_check_heap(heap);
  return_cached_blocks(heap);
  flush_quarantine(heap);
  for (ClassLists& lists : heap.classes) {
    for (Slab* list : {lists.full, lists.available, lists.current}) {
      for (Slab* slab = list; slab != nullptr;) {
        Slab* next = slab->list == SlabList::Current ? nullptr : slab->next;
        collect_remote(*slab, heap);
        slab = next;
      }
    }
  }
  flush_pending(heap, 0);
  for (ClassLists& lists : heap.classes) {
    for (Slab* slab = lists.available; slab != nullptr;) {
      Slab* next = slab->next;
      if (slab->live == 0) release_slab(*slab, heap);
      slab = next;
    }
    if (!keep_current && lists.current != nullptr && lists.current->live == 0) {
      Slab& current = *lists.current;
      close_pages(current, current.open_pages);
      release_slab(current, heap);
    }
  }
  debug_check_heap(heap);
}

}  // namespace

void give_back_waiting_slabs() noexcept {
  ThreadHeap* heap = tl_heap;
  // The heap of torn-down threads is used under its own lock, which this
  // thread may not hold here.
  if (heap == nullptr || heap->shared) return;
  flush_pending(*heap, 0);
}

void collect_thread() noexcept {
  relock_if_forked();
  if (ThreadHeap* heap = tl_heap) trim(*heap, true);
  // Heaps whose threads have exited collect nothing by themselves: blocks
  // other threads free into them stay wiped but open until someone does.
  ThreadHeap* abandoned = take_free_heaps();
  for (ThreadHeap* heap = abandoned; heap != nullptr; heap = heap->next_free) trim(*heap, false);
  give_back_free_heaps(abandoned);
  large_close_cached();
}

void trim_abandoned_heap(ThreadHeap& heap) noexcept { trim(heap, false); }

void pool_prepare_fork() noexcept { shared_heap_mutex.lock(); }
void pool_parent_after_fork() noexcept { shared_heap_mutex.unlock(); }
void pool_child_after_fork() noexcept { ::new (&shared_heap_mutex) std::mutex; }

}  // namespace secbits::pool
