#include "pool/large.hpp"

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "os/diagnostics.hpp"
#include "pool/block_check.hpp"
#include "pool/invariants.hpp"
#include "pool/layout.hpp"
#include "pool/region.hpp"
#include "pool/sealing.hpp"
#include "pool/source/page_source.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

namespace {

// One record per 32 KiB granule of the zone; only a span's first granule has
// one. Layout: bits 0-2 state, bit 3 locked, bits 4-9 log2 of the span size,
// bits 32-63 committed pages (live, cached) or the next free span's granule
// + 1 (free).
enum : std::uint64_t { kUnused = 0, kLive = 1, kFree = 2, kBusy = 3, kCached = 4 };
constexpr std::uint64_t kStateMask = 7;
constexpr std::uint64_t kLockedBit = 8;

constexpr std::uint64_t make_record(std::uint64_t state, bool locked, unsigned shift, std::uint64_t high) noexcept {
  return state | (locked ? kLockedBit : 0) | (std::uint64_t{shift} << 4) | (high << 32);
}
constexpr std::uint64_t state_of(std::uint64_t record) noexcept { return record & kStateMask; }
constexpr unsigned shift_of(std::uint64_t record) noexcept { return static_cast<unsigned>((record >> 4) & 63); }
constexpr std::size_t high_of(std::uint64_t record) noexcept { return static_cast<std::size_t>(record >> 32); }
constexpr bool locked_of(std::uint64_t record) noexcept { return (record & kLockedBit) != 0; }

constinit std::byte* zone = nullptr;
constinit std::size_t zone_bytes = 0;
constinit std::atomic<std::uint64_t>* records = nullptr;

// Guards the free lists, the bump offset and the cache.
constinit std::mutex span_mutex;
constinit std::uint32_t free_spans[64] = {};  // granule + 1 of the first free span of each size
constinit std::size_t bump = 0;

/// Freed blocks kept committed and locked, wiped and PROT_NONE, for the next
/// block of the same span size: handing one out again costs one mprotect
/// instead of mprotect, mlock (which faults in and zeroes every page) and,
/// at the free, an mmap and a madvise.
struct CachedSpan {
  std::uint32_t granule;
  std::uint32_t pages;
  unsigned shift;
  bool locked;
};
constexpr std::size_t kCacheEntries = 32;
constexpr std::size_t kCacheBytes = std::size_t{32} << 20;
constinit CachedSpan cache[kCacheEntries] = {};
constinit std::size_t cache_count = 0;
constinit std::size_t cache_bytes = 0;

std::size_t granule_of(const void* pointer) noexcept {
  return static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone) >> kMinSpanShift;
}

/// The record of the live block that starts at `pointer`; aborts otherwise.
std::uint64_t live_record(const void* pointer, BlockUse use) noexcept {
  const auto offset = static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone);
  if ((offset & ((std::size_t{1} << kMinSpanShift) - 1)) != 0) not_a_block(pointer, use);
  const std::uint64_t record = records[offset >> kMinSpanShift].load(std::memory_order_acquire);
  if (state_of(record) == kLive) return record;
  if (state_of(record) == kFree || state_of(record) == kCached) block_already_freed(pointer, use);
  not_a_block(pointer, use);
}

/// Makes a span's new record visible to relock_pool, which reads the records
/// under span_mutex: a record stored under it is seen by the next relock.
void publish(std::size_t granule, std::uint64_t record) noexcept {
  std::lock_guard lock(span_mutex);
  records[granule].store(record, std::memory_order_release);
}

void push_free_span(std::size_t granule, unsigned shift) noexcept {
  std::lock_guard lock(span_mutex);
  records[granule].store(make_record(kFree, false, shift, free_spans[shift]), std::memory_order_release);
  free_spans[shift] = static_cast<std::uint32_t>(granule + 1);
}

/// A span of 2^shift bytes, aligned to its size in the address space.
bool pop_span(unsigned shift, std::size_t* granule) noexcept {
  std::lock_guard lock(span_mutex);
  if (free_spans[shift] != 0) {
    *granule = free_spans[shift] - 1;
    free_spans[shift] = static_cast<std::uint32_t>(high_of(records[*granule].load(std::memory_order_relaxed)));
  } else {
    const std::size_t span = std::size_t{1} << shift;
    const auto zone_address = reinterpret_cast<std::uintptr_t>(zone);
    const std::uintptr_t start = ((zone_address + bump + span - 1) & ~(span - 1)) - zone_address;
    if (start > zone_bytes || zone_bytes - start < span) return false;
    bump = start + span;
    *granule = start >> kMinSpanShift;
  }
  records[*granule].store(make_record(kBusy, false, shift, 0), std::memory_order_relaxed);
  return true;
}

/// The cache's byte count is its entries' pages, and each entry's record
/// says it is cached. Called with span_mutex held.
void debug_check_cache() noexcept {
  if constexpr (!kCheckInvariants) return;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < cache_count; ++i) {
    bytes += std::size_t{cache[i].pages} * kPageSize;
    if (state_of(records[cache[i].granule].load(std::memory_order_relaxed)) != kCached) {
      os::fatal("invariant broken: a cached span's record does not say so", zone + (std::size_t{cache[i].granule} << kMinSpanShift));
    }
  }
  if (bytes != cache_bytes || cache_bytes > kCacheBytes) os::fatal("invariant broken: the span cache's byte count", zone);
}

bool take_cached(unsigned shift, CachedSpan* taken) noexcept {
  std::lock_guard lock(span_mutex);
  debug_check_cache();
  for (std::size_t i = cache_count; i-- > 0;) {
    if (cache[i].shift != shift) continue;
    *taken = cache[i];
    cache[i] = cache[--cache_count];
    cache_bytes -= std::size_t{taken->pages} * kPageSize;
    // Busy, with its pages: they stay committed and locked while the span is
    // made a block again, and a relock_pool meanwhile must include them.
    records[taken->granule].store(make_record(kBusy, taken->locked, shift, taken->pages), std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool put_cached(const CachedSpan& span) noexcept {
  const std::size_t bytes = std::size_t{span.pages} * kPageSize;
  std::lock_guard lock(span_mutex);
  if (cache_count == kCacheEntries || cache_bytes + bytes > kCacheBytes) return false;
  cache[cache_count++] = span;
  cache_bytes += bytes;
  records[span.granule].store(make_record(kCached, span.locked, span.shift, span.pages), std::memory_order_release);
  debug_check_cache();
  return true;
}

/// Gives a span's committed pages back and its address range to the free list.
void release_span(std::size_t granule, unsigned shift, std::size_t pages, bool locked) noexcept {
  {
    // No pages any more before they go: a relock_pool must not lock pages
    // that are back in the reservation.
    std::lock_guard lock(span_mutex);
    records[granule].store(make_record(kBusy, false, shift, 0), std::memory_order_relaxed);
  }
  page_source().decommit(zone + (granule << kMinSpanShift), pages * kPageSize, locked);
  push_free_span(granule, shift);
  release_mappings(2);
}

}  // namespace

bool large_release_cache() noexcept {
  CachedSpan drained[kCacheEntries];
  std::size_t count = 0;
  {
    std::lock_guard lock(span_mutex);
    count = cache_count;
    for (std::size_t i = 0; i < count; ++i) drained[i] = cache[i];
    cache_count = 0;
    cache_bytes = 0;
  }
  for (std::size_t i = 0; i < count; ++i) {
    release_span(drained[i].granule, drained[i].shift, drained[i].pages, drained[i].locked);
  }
  return count != 0;
}

namespace {

/// A cached span made into a live block of `pages` pages, or null (the span
/// is then released).
void* reuse(const CachedSpan& span, std::size_t pages, std::uint64_t epoch) noexcept {
  Source& source = page_source();
  std::byte* block = zone + (std::size_t{span.granule} << kMinSpanShift);
  std::size_t have = span.pages;
  if ((have < pages && !source.extends_in_place()) || (have > pages && !source.gives_back_part_of_a_range())) {
    release_span(span.granule, span.shift, have, span.locked);
    return nullptr;
  }
  if (have > pages) {
    // The smaller page count first: a relock_pool must not lock the tail once
    // it is back in the reservation.
    publish(span.granule, make_record(kBusy, span.locked, span.shift, pages));
    source.decommit(block + pages * kPageSize, (have - pages) * kPageSize, span.locked);  // wiped when freed
    have = pages;
  }
  bool ok = source.protect(block, have * kPageSize, Protection::ReadWrite);
  if (ok && have < pages) {
    bool extension_locked = false;
    ok = source.commit(block + have * kPageSize, (pages - have) * kPageSize, &extension_locked);
    if (ok && extension_locked != span.locked) {
      source.decommit(block + have * kPageSize, (pages - have) * kPageSize, extension_locked);
      ok = false;
    }
  }
  if (!ok) {
    release_span(span.granule, span.shift, have, span.locked);
    return nullptr;
  }
  publish(span.granule, make_record(kLive, span.locked, span.shift, pages));
  if (span.locked) keep_locked(epoch, block, pages * kPageSize);
  add(g_counters.large_blocks, 1);
  return block;
}

}  // namespace

bool large_initialise(std::byte* zone_start, std::size_t bytes) noexcept {
  void* table = nullptr;
  if (!map_bookkeeping((bytes >> kMinSpanShift) * sizeof(std::atomic<std::uint64_t>), &table).ok()) return false;
  zone = zone_start;
  zone_bytes = bytes;
  records = static_cast<std::atomic<std::uint64_t>*>(table);
  seal_for_life(table, (bytes >> kMinSpanShift) * sizeof(std::atomic<std::uint64_t>));
  return true;
}

void* large_allocate(std::size_t size, std::size_t alignment) noexcept {
  const std::size_t pages = size / kPageSize + (size % kPageSize != 0);
  // One more page than the block: the span's last page is always a guard.
  if (pages >= zone_bytes / kPageSize) {
    errno = ENOMEM;
    return nullptr;
  }
  std::size_t span = std::bit_ceil((pages + 1) * kPageSize);
  if (alignment > span) span = alignment;
  if (span < (std::size_t{1} << kMinSpanShift)) span = std::size_t{1} << kMinSpanShift;
  const auto shift = static_cast<unsigned>(std::countr_zero(span));
  const std::uint64_t epoch = lock_epoch();
  if (CachedSpan cached{}; take_cached(shift, &cached)) {
    if (void* block = reuse(cached, pages, epoch)) return block;
  }
  // A block splits the reservation's mapping in three: two more.
  if (!claim_mappings(2)) return nullptr;
  std::size_t granule = 0;
  if (span > zone_bytes || !pop_span(shift, &granule)) {
    release_mappings(2);
    errno = ENOMEM;
    return nullptr;
  }
  std::byte* block = zone + (granule << kMinSpanShift);
  bool locked = false;
  if (!page_source().commit(block, pages * kPageSize, &locked)) {
    push_free_span(granule, shift);
    release_mappings(2);
    return nullptr;
  }
  publish(granule, make_record(kLive, locked, shift, pages));
  if (locked) keep_locked(epoch, block, pages * kPageSize);
  add(g_counters.large_blocks, 1);
  return block;
}

void large_free(void* pointer) noexcept {
  std::uint64_t record = live_record(pointer, BlockUse::Free);
  const std::size_t granule = granule_of(pointer);
  // Claim the block, so that a second free racing with this one is caught.
  if (!records[granule].compare_exchange_strong(record, (record & ~kStateMask) | kBusy, std::memory_order_acq_rel)) {
    block_already_freed(pointer, BlockUse::Free);
  }
  const std::size_t pages = high_of(record);
  page_source().wipe(pointer, pages * kPageSize);
  subtract(g_counters.large_blocks, 1);
  // PROT_NONE at once, whether the span is kept for reuse or not.
  const CachedSpan span{static_cast<std::uint32_t>(granule), static_cast<std::uint32_t>(pages), shift_of(record),
                        locked_of(record)};
  const bool closed = page_source().protect(pointer, pages * kPageSize, Protection::NoAccess);
  if (closed && put_cached(span)) return;
  release_span(granule, span.shift, pages, span.locked);
}

std::size_t large_usable_size(const void* pointer, BlockUse use) noexcept {
  return high_of(live_record(pointer, use)) * kPageSize;
}

bool large_resize_in_place(void* pointer, std::size_t size) noexcept {
  const std::uint64_t record = live_record(pointer, BlockUse::Reallocate);
  const std::size_t span = std::size_t{1} << shift_of(record);
  const std::size_t old_pages = high_of(record);
  const std::size_t new_pages = size / kPageSize + (size % kPageSize != 0);
  if (new_pages == 0 || new_pages >= span / kPageSize) return false;
  auto* block = static_cast<std::byte*>(pointer);
  const bool locked = locked_of(record);
  const std::uint64_t resized = make_record(kLive, locked, shift_of(record), new_pages);
  if (new_pages > old_pages) {
    if (!page_source().extends_in_place()) return false;
    const std::uint64_t epoch = lock_epoch();
    bool extension_locked = false;
    std::byte* extension = block + old_pages * kPageSize;
    const std::size_t bytes = (new_pages - old_pages) * kPageSize;
    if (!page_source().commit(extension, bytes, &extension_locked)) return false;
    // One lock state per block: a block half locked could not say which.
    if (extension_locked != locked) {
      page_source().decommit(extension, bytes, extension_locked);
      return false;
    }
    publish(granule_of(pointer), resized);
    if (locked) keep_locked(epoch, extension, bytes);
  } else if (new_pages < old_pages) {
    if (!page_source().gives_back_part_of_a_range()) return false;
    // The smaller record first: a relock_pool must not lock the tail once
    // it is back in the reservation.
    publish(granule_of(pointer), resized);
    std::byte* tail = block + new_pages * kPageSize;
    const std::size_t bytes = (old_pages - new_pages) * kPageSize;
    page_source().wipe(tail, bytes);
    page_source().decommit(tail, bytes, locked);
  }
  return true;
}

void large_wipe_live_blocks() noexcept {
  if (records == nullptr) return;
  // Without span_mutex (the interrupted thread may hold it): a live block's
  // committed pages are read-write until its owner frees it, and a free
  // wipes them anyway.
  const std::size_t granules = std::atomic_ref<std::size_t>(bump).load(std::memory_order_relaxed) >> kMinSpanShift;
  for (std::size_t granule = 0; granule < granules; ++granule) {
    const std::uint64_t record = records[granule].load(std::memory_order_acquire);
    if (state_of(record) != kLive || high_of(record) == 0) continue;
    page_source().wipe(zone + (granule << kMinSpanShift), high_of(record) * kPageSize);
  }
}

void large_relock(const char* because) noexcept {
  std::lock_guard lock(span_mutex);
  for (std::size_t granule = 0; granule < (bump >> kMinSpanShift); ++granule) {
    const std::uint64_t record = records[granule].load(std::memory_order_relaxed);
    // A busy span with pages is one a thread is freeing: relocked too (in a
    // forked child that thread does not exist, and the span stays as it is).
    if (state_of(record) == kUnused || state_of(record) == kFree || !locked_of(record) || high_of(record) == 0) continue;
    page_source().relock(zone + (granule << kMinSpanShift), high_of(record) * kPageSize, because);
  }
}

void large_renew_in_child() noexcept {
  Source& source = page_source();
  const bool repair = source.child_repairs_reservation();
  // Everything of the zone up to `committed_to` is either a committed range
  // the child now owns or, with a source that needs it, the reservation
  // again: a span another thread was mapping, unmapping or shrinking at the
  // fork reaches the child as its parent's shared pages or as a hole.
  std::size_t committed_to = 0;
  const auto repair_up_to = [&](std::size_t offset) {
    if (repair && offset > committed_to) repair_reservation(zone + committed_to, offset - committed_to);
  };
  for (std::size_t granule = 0; granule < (bump >> kMinSpanShift); ++granule) {
    std::uint64_t record = records[granule].load(std::memory_order_relaxed);
    if (state_of(record) == kUnused || state_of(record) == kFree || high_of(record) == 0) continue;
    const std::size_t offset = granule << kMinSpanShift;
    std::byte* span = zone + offset;
    const std::size_t bytes = high_of(record) * kPageSize;
    repair_up_to(offset);
    committed_to = offset + bytes;
    const Source::Renewal renewal = source.renew_in_child(span, bytes, locked_of(record));
    if (renewal == Source::Renewal::ReadWriteUnlocked) {
      record &= ~kLockedBit;
      records[granule].store(record, std::memory_order_relaxed);
      count_as_unlocked(bytes);
    }
    // Only a live block is open: a cached span is closed, and a busy one
    // belonged to a thread that does not exist in the child.
    if ((renewal == Source::Renewal::ReadWrite || renewal == Source::Renewal::ReadWriteUnlocked) &&
        state_of(record) != kLive) {
      (void)source.protect(span, bytes, Protection::NoAccess);
    }
  }
  repair_up_to(bump);
}

void large_prepare_fork() noexcept { span_mutex.lock(); }
void large_parent_after_fork() noexcept { span_mutex.unlock(); }
void large_child_after_fork() noexcept { ::new (&span_mutex) std::mutex; }

}  // namespace secbits::pool
