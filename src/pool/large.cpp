#include "pool/large.hpp"

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "os/diagnostics.hpp"
#include "os/wipe.hpp"
#include "pool/block_check.hpp"
#include "pool/invariants.hpp"
#include "pool/hardening.hpp"
#include "pool/layout.hpp"
#include "pool/options.hpp"
#include "pool/region.hpp"
#include "pool/sealing.hpp"
#include "pool/source/page_source.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

namespace {

// One record per 32 KiB granule of the zone; only a span's first granule has
// one. Layout: bits 0-2 state, bit 3 locked, bits 4-9 log2 of the span size,
// bit 10 resident (every committed page is resident and locked: a free wipes
// them all without asking mincore), bits 11-31 the next span of the same
// cache list's granule + 1 (cached), bits 32-63 committed pages (live,
// cached) or the next free span's granule + 1 (free).
enum : std::uint64_t { kUnused = 0, kLive = 1, kFree = 2, kBusy = 3, kCachedClosed = 4, kCachedOpen = 5 };
constexpr std::uint64_t kStateMask = 7;
constexpr std::uint64_t kLockedBit = 8;
constexpr std::uint64_t kResidentBit = 1024;
constexpr unsigned kLinkShift = 11;
constexpr std::uint64_t kLinkMask = ((std::uint64_t{1} << 21) - 1) << kLinkShift;
static_assert(((kPreferredReservation - kPreferredReservation / 4) >> kMinSpanShift) < (std::uint64_t{1} << 21),
              "a cached span's link holds any granule + 1 of the large zone (3/4 of the reservation)");

constexpr std::uint64_t make_record(std::uint64_t state, bool locked, unsigned shift, std::uint64_t high) noexcept {
  return state | (locked ? kLockedBit : 0) | (std::uint64_t{shift} << 4) | (high << 32);
}
constexpr std::uint64_t state_of(std::uint64_t record) noexcept { return record & kStateMask; }
constexpr unsigned shift_of(std::uint64_t record) noexcept { return static_cast<unsigned>((record >> 4) & 63); }
constexpr std::size_t high_of(std::uint64_t record) noexcept { return static_cast<std::size_t>(record >> 32); }
constexpr bool locked_of(std::uint64_t record) noexcept { return (record & kLockedBit) != 0; }
constexpr bool resident_of(std::uint64_t record) noexcept { return (record & kResidentBit) != 0; }
constexpr bool is_cached(std::uint64_t record) noexcept {
  return state_of(record) == kCachedClosed || state_of(record) == kCachedOpen;
}
constexpr std::uint32_t link_of(std::uint64_t record) noexcept {
  return static_cast<std::uint32_t>((record & kLinkMask) >> kLinkShift);
}

constinit std::byte* zone = nullptr;
constinit std::size_t zone_bytes = 0;
constinit std::atomic<std::uint64_t>* records = nullptr;

// Guards the free lists, the bump offset and the cache.
constinit std::mutex span_mutex;
constinit std::uint32_t free_spans[64] = {};  // granule + 1 of the first free span of each size
constinit std::size_t bump = 0;

/// Freed blocks kept committed and locked, wiped, for the next block of the
/// same span size, in two lists per size (granule + 1 of the newest, linked
/// through the records). Open ones (read-write, under the cached protection
/// policy, at most kOpenCacheBytes of them) are handed out again without a
/// syscall; closed ones (PROT_NONE) with one mprotect, instead of mprotect,
/// mlock, madvise and a page fault for every page touched, and an mmap at
/// the free. The cache holds up to as many bytes as the most the program has
/// had in large blocks at once (at least kMinCacheBytes, at most
/// kMaxCacheBytes): a program that frees and allocates its large blocks
/// again and again finds its spans, pages resident, where they were. Past
/// either limit the oldest spans make room (given back, or closed), other
/// sizes than the new one's first.
struct CacheLists {
  std::uint32_t open = 0;
  std::uint32_t closed = 0;
};
constexpr std::size_t kOpenCacheBytes = std::size_t{32} << 20;
constexpr std::size_t kMinCacheBytes = std::size_t{32} << 20;
constexpr std::size_t kMaxCacheBytes = std::size_t{1} << 30;
/// Above this, a span is cached only if every page of its block was
/// resident when it was freed.
constexpr std::size_t kSparseSpanPages = 64;
constinit CacheLists cache[64] = {};
constinit std::size_t cache_bytes = 0;
constinit std::size_t open_cache_bytes = 0;
constinit std::atomic<std::size_t> live_bytes{0};  // committed pages of live blocks
constinit std::atomic<std::size_t> peak_live_bytes{0};

/// A freed span, as the cache keeps it.
struct CachedSpan {
  std::uint32_t granule;
  std::uint32_t pages;
  unsigned shift;
  bool locked;
  bool open;
  bool resident;
};

CachedSpan cached_span(std::size_t granule, std::uint64_t record) noexcept {
  return {static_cast<std::uint32_t>(granule), static_cast<std::uint32_t>(high_of(record)), shift_of(record),
          locked_of(record), state_of(record) == kCachedOpen, resident_of(record)};
}

std::size_t granule_of(const void* pointer) noexcept {
  return static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone) >> kMinSpanShift;
}

/// The record of the live block that starts at `pointer`; aborts otherwise.
std::uint64_t live_record(const void* pointer, BlockUse use) noexcept {
  const auto offset = static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone);
  if ((offset & ((std::size_t{1} << kMinSpanShift) - 1)) != 0) not_a_block(pointer, use);
  const std::uint64_t record = records[offset >> kMinSpanShift].load(std::memory_order_acquire);
  if (state_of(record) == kLive) return record;
  if (state_of(record) == kFree || is_cached(record)) block_already_freed(pointer, use);
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

std::size_t cache_limit() noexcept {
  const std::size_t peak = peak_live_bytes.load(std::memory_order_relaxed);
  return peak < kMinCacheBytes ? kMinCacheBytes : peak > kMaxCacheBytes ? kMaxCacheBytes : peak;
}

void count_live(std::int64_t delta) noexcept {
  const std::size_t now = live_bytes.fetch_add(static_cast<std::size_t>(delta), std::memory_order_relaxed) +
                          static_cast<std::size_t>(delta);
  std::size_t peak = peak_live_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_live_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

/// Each cached span of one list, newest first. Called with span_mutex held.
template <class OnSpan>
void for_each_in_list(std::uint32_t head, OnSpan on_span) noexcept {
  for (std::uint32_t link = head; link != 0;) {
    const std::size_t granule = link - 1;
    const std::uint64_t record = records[granule].load(std::memory_order_relaxed);
    link = link_of(record);
    on_span(granule, record);
  }
}

/// Puts span `link` (granule + 1) at the head of a cache list, its record
/// (`record`, whatever its state and link) saying `state`. Called with
/// span_mutex held.
void push_span(std::uint32_t& head, std::uint32_t link, std::uint64_t record, std::uint64_t state) noexcept {
  records[link - 1].store((record & ~(kStateMask | kLinkMask)) | state | (std::uint64_t{head} << kLinkShift),
                          std::memory_order_release);
  head = link;
}

/// Makes span `previous` of a list point where `record`'s link does: the
/// span `record` belongs to leaves the list. Called with span_mutex held.
void skip_over(std::uint32_t previous, std::uint64_t record) noexcept {
  const std::uint64_t before = records[previous - 1].load(std::memory_order_relaxed);
  records[previous - 1].store((before & ~kLinkMask) | (record & kLinkMask), std::memory_order_release);
}

/// The cache's byte counts are its spans' pages, each on the list its
/// record's state names. Called with span_mutex held.
void debug_check_cache() noexcept {
  if constexpr (!kCheckInvariants) return;
  std::size_t bytes = 0;
  std::size_t open = 0;
  for (unsigned shift = 0; shift < 64; ++shift) {
    for (const bool on_open : {true, false}) {
      for_each_in_list(on_open ? cache[shift].open : cache[shift].closed, [&](std::size_t granule, std::uint64_t record) {
        if (state_of(record) != (on_open ? kCachedOpen : kCachedClosed) || shift_of(record) != shift) {
          os::fatal("invariant broken: a cached span's record does not say which list it is on",
                    zone + (granule << kMinSpanShift));
        }
        bytes += high_of(record) * kPageSize;
        if (on_open) open += high_of(record) * kPageSize;
      });
    }
  }
  if (bytes != cache_bytes || open != open_cache_bytes || open_cache_bytes > kOpenCacheBytes) {
    os::fatal("invariant broken: the span cache's byte counts", zone);
  }
}

/// A cached span of `pages` pages or up to a quarter more: reuse makes a
/// block of it without giving pages back or committing more.
constexpr bool fits(std::uint64_t record, std::size_t pages) noexcept {
  return high_of(record) >= pages && (high_of(record) - pages) * 4 <= high_of(record);
}

/// Takes a span off a cache list: the first of its newest few that fits a
/// block of `pages` pages, or with `any`, the newest. Its granule + 1, or 0.
/// Called with span_mutex held.
std::uint32_t take_from_list(std::uint32_t& head, std::size_t pages, bool any) noexcept {
  constexpr int kLooked = 8;
  std::uint32_t previous = 0;
  std::uint32_t link = head;
  for (int looked = 0; link != 0 && (looked < kLooked || any); ++looked) {
    const std::uint64_t record = records[link - 1].load(std::memory_order_relaxed);
    if (any || fits(record, pages)) {
      if (previous == 0) head = link_of(record);
      else skip_over(previous, record);
      return link;
    }
    previous = link;
    link = link_of(record);
  }
  return 0;
}

/// A cached span for a block of `pages` pages: one that fits it, open before
/// closed (a closed one costs an mprotect, one that does not fit two or
/// three syscalls), else the newest, open before closed.
bool take_cached(unsigned shift, std::size_t pages, CachedSpan* taken) noexcept {
  std::lock_guard lock(span_mutex);
  debug_check_cache();
  CacheLists& lists = cache[shift];
  std::uint32_t link = take_from_list(lists.open, pages, false);
  if (link == 0) link = take_from_list(lists.closed, pages, false);
  if (link == 0) link = take_from_list(lists.open, pages, true);
  if (link == 0) link = take_from_list(lists.closed, pages, true);
  if (link == 0) return false;
  const std::size_t granule = link - 1;
  const std::uint64_t record = records[granule].load(std::memory_order_relaxed);
  *taken = cached_span(granule, record);
  const std::size_t bytes = std::size_t{taken->pages} * kPageSize;
  cache_bytes -= bytes;
  if (taken->open) open_cache_bytes -= bytes;
  // Busy, with its pages: they stay committed and locked while the span is
  // made a block again, and a relock_pool meanwhile must include them.
  records[granule].store(make_record(kBusy, taken->locked, shift, taken->pages), std::memory_order_relaxed);
  return true;
}

enum class Caching { Kept, CloseFirst, Refused };

/// The oldest span of a cache list, taken off it: its granule + 1, or 0.
/// Called with span_mutex held.
std::uint32_t take_oldest(std::uint32_t& head) noexcept {
  if (head == 0) return 0;
  std::uint32_t previous = 0;
  std::uint32_t link = head;
  std::uint64_t record = records[link - 1].load(std::memory_order_relaxed);
  for (std::uint32_t next; (next = link_of(record)) != 0;) {
    previous = link;
    link = next;
    record = records[link - 1].load(std::memory_order_relaxed);
  }
  if (previous == 0) head = 0;
  else skip_over(previous, record);
  return link;
}

/// The oldest open (or closed) span of another size than `last`'s, the
/// largest sizes first, else of `last`'s size: spans of a size the program
/// no longer frees go first. Its granule + 1, or 0; its bytes leave the
/// counts. Called with span_mutex held.
std::uint32_t take_oldest_of(bool open, unsigned last) noexcept {
  const auto list_of = [open](unsigned shift) -> std::uint32_t& { return open ? cache[shift].open : cache[shift].closed; };
  std::uint32_t link = 0;
  for (unsigned shift = 64; link == 0 && shift-- > 0;) {
    if (shift != last) link = take_oldest(list_of(shift));
  }
  if (link == 0) link = take_oldest(list_of(last));
  if (link == 0) return 0;
  const std::size_t bytes = high_of(records[link - 1].load(std::memory_order_relaxed)) * kPageSize;
  cache_bytes -= bytes;
  if (open) open_cache_bytes -= bytes;
  return link;
}

/// Spans put_cached took out of the cache to make room, for its caller to
/// give back once the lock is released.
struct Evicted {
  static constexpr int kMost = 4;
  std::uint32_t links[kMost] = {};
  int count = 0;
};

/// Files a freed, wiped span in the cache. Past the cache's limit, the
/// oldest spans go first (closed ones, then open ones; the caller gives
/// them back), and a span that still does not fit is refused. Past the open
/// limit, the oldest open span is closed to make room, and if that fails the
/// new one must be closed first: the spans a program uses now are the ones
/// that stay open, not the first ever freed.
Caching put_cached(const CachedSpan& span, Evicted* evicted) noexcept {
  const std::size_t bytes = std::size_t{span.pages} * kPageSize;
  std::lock_guard lock(span_mutex);
  if (bytes > cache_limit()) return Caching::Refused;
  while (cache_bytes + bytes > cache_limit() && evicted->count < Evicted::kMost) {
    std::uint32_t link = take_oldest_of(false, span.shift);
    if (link == 0) link = take_oldest_of(true, span.shift);
    if (link == 0) break;
    // Busy, pages and all, until the caller gives them back.
    const std::uint64_t record = records[link - 1].load(std::memory_order_relaxed);
    records[link - 1].store((record & ~(kStateMask | kLinkMask)) | kBusy, std::memory_order_relaxed);
    evicted->links[evicted->count++] = link;
  }
  if (cache_bytes + bytes > cache_limit()) return Caching::Refused;
  if (span.open && open_cache_bytes + bytes > kOpenCacheBytes) {
    const std::uint32_t link = take_oldest_of(true, span.shift);
    if (link == 0) return Caching::CloseFirst;
    const std::uint64_t record = records[link - 1].load(std::memory_order_relaxed);
    const bool shut = page_source().protect(zone + (std::size_t{link - 1} << kMinSpanShift), high_of(record) * kPageSize,
                                            Protection::NoAccess);
    CacheLists& lists = cache[shift_of(record)];
    push_span(shut ? lists.closed : lists.open, link, record, shut ? kCachedClosed : kCachedOpen);
    cache_bytes += high_of(record) * kPageSize;
    if (!shut) {
      open_cache_bytes += high_of(record) * kPageSize;
      return Caching::CloseFirst;
    }
    if (open_cache_bytes + bytes > kOpenCacheBytes) return Caching::CloseFirst;
  }
  const std::uint64_t state = span.open ? kCachedOpen : kCachedClosed;
  push_span(span.open ? cache[span.shift].open : cache[span.shift].closed, span.granule + 1,
            make_record(state, span.locked, span.shift, span.pages) | (span.resident ? kResidentBit : 0), state);
  cache_bytes += bytes;
  if (span.open) open_cache_bytes += bytes;
  debug_check_cache();
  return Caching::Kept;
}

/// Moves every open cached span to its size's closed list, closing it first
/// when `close` (a forked child whose source gave it fresh, closed pages
/// does not). Called with span_mutex held.
void close_open_spans(bool close) noexcept {
  for (unsigned shift = 0; shift < 64; ++shift) {
    std::uint32_t still_open = 0;
    for_each_in_list(cache[shift].open, [&](std::size_t granule, std::uint64_t record) {
      const bool closed =
          !close || page_source().protect(zone + (granule << kMinSpanShift), high_of(record) * kPageSize, Protection::NoAccess);
      if (closed) open_cache_bytes -= high_of(record) * kPageSize;
      push_span(closed ? cache[shift].closed : still_open, static_cast<std::uint32_t>(granule + 1), record,
                closed ? kCachedClosed : kCachedOpen);
    });
    cache[shift].open = still_open;
  }
  debug_check_cache();
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
  CacheLists drained[64];
  {
    std::lock_guard lock(span_mutex);
    for (unsigned shift = 0; shift < 64; ++shift) {
      drained[shift] = cache[shift];
      cache[shift] = {};
    }
    cache_bytes = 0;
    open_cache_bytes = 0;
  }
  // Off the lists, these spans are this thread's alone: their links are read
  // before release_span rewrites their records.
  bool released = false;
  for (unsigned shift = 0; shift < 64; ++shift) {
    for (const std::uint32_t head : {drained[shift].open, drained[shift].closed}) {
      for (std::uint32_t link = head; link != 0;) {
        const std::size_t granule = link - 1;
        const std::uint64_t record = records[granule].load(std::memory_order_relaxed);
        link = link_of(record);
        release_span(granule, shift, high_of(record), locked_of(record));
        released = true;
      }
    }
  }
  return released;
}

void large_close_cached() noexcept {
  std::lock_guard lock(span_mutex);
  close_open_spans(true);
}

namespace {

/// Under the cached policy, freed spans wait open as emptied slab pages do;
/// from hardening level 2 they close at once, so that a write after free
/// faults there (the zero check covers small blocks only).
bool keeps_freed_spans_open() noexcept {
  return g_page_protection.load(std::memory_order_relaxed) == PageProtection::Cached &&
         !g_hardened.load(std::memory_order_relaxed);
}

/// Wipes a freed block's pages; true if every one of them is known
/// resident and locked afterwards (a locked page stays resident).
bool wipe_block(void* block, std::uint64_t record) noexcept {
  const std::size_t bytes = high_of(record) * kPageSize;
  if (resident_of(record)) {
    os::secure_wipe(block, bytes);
    return true;
  }
  return page_source().wipe(block, bytes) && locked_of(record);
}

/// A cached span made into a live block of `pages` pages, or null (the span
/// is then released). A span with up to a quarter more pages than asked for
/// keeps them all (its usable size says so): giving the tail back would cost
/// a syscall now and, likely, a commit for the next, larger block.
void* reuse(const CachedSpan& span, std::size_t pages, bool zeroed, std::uint64_t epoch) noexcept {
  Source& source = page_source();
  std::byte* block = zone + (std::size_t{span.granule} << kMinSpanShift);
  std::size_t have = span.pages;
  bool resident = span.resident;
  const bool trim = have > pages && (have - pages) * 4 > have;
  if ((have < pages && !source.extends_in_place()) || (trim && !source.gives_back_part_of_a_range())) {
    release_span(span.granule, span.shift, have, span.locked);
    return nullptr;
  }
  if (trim) {
    // The smaller page count first: a relock_pool must not lock the tail once
    // it is back in the reservation.
    publish(span.granule, make_record(kBusy, span.locked, span.shift, pages));
    source.decommit(block + pages * kPageSize, (have - pages) * kPageSize, span.locked);  // wiped when freed
    have = pages;
  }
  bool ok = span.open || source.protect(block, have * kPageSize, Protection::ReadWrite);
  if (ok && have < pages) {
    bool extension_locked = false;
    ok = source.commit(block + have * kPageSize, (pages - have) * kPageSize, &extension_locked);
    if (ok && extension_locked != span.locked) {
      source.decommit(block + have * kPageSize, (pages - have) * kPageSize, extension_locked);
      ok = false;
    }
    have = pages;
    resident = false;
  }
  if (!ok) {
    release_span(span.granule, span.shift, span.pages < pages ? span.pages : have, span.locked);
    return nullptr;
  }
  const std::uint64_t record = make_record(kLive, span.locked, span.shift, have) | (resident ? kResidentBit : 0);
  // Wiped at its free, but open since: a write after free may have reached it.
  if (span.open && zeroed) (void)wipe_block(block, record);
  publish(span.granule, record);
  if (span.locked) keep_locked(epoch, block, have * kPageSize);
  count_live(static_cast<std::int64_t>(have * kPageSize));
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

void* large_allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
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
  if (CachedSpan cached{}; take_cached(shift, pages, &cached)) {
    if (void* block = reuse(cached, pages, zeroed, epoch)) return block;
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
  count_live(static_cast<std::int64_t>(pages * kPageSize));
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
  const bool resident = wipe_block(pointer, record);
  count_live(-static_cast<std::int64_t>(pages * kPageSize));
  subtract(g_counters.large_blocks, 1);
  // The span may wait open, wiped, as a slab's emptied pages do; otherwise,
  // and past the open limit, it is PROT_NONE at once, whether it is kept for
  // reuse or not.
  CachedSpan span{static_cast<std::uint32_t>(granule), static_cast<std::uint32_t>(pages), shift_of(record),
                  locked_of(record), keeps_freed_spans_open(), resident};
  // A block the program touched only in part would keep those pages
  // resident, and the next block in its span adds its own: kept, such spans
  // would grow towards all their pages resident (a program with big, sparse
  // tables: 3.8 times glibc's peak RSS). Given back, their pages go.
  if (!resident && pages > kSparseSpanPages) {
    release_span(granule, span.shift, pages, span.locked);
    return;
  }
  Evicted evicted;
  Caching caching = span.open ? put_cached(span, &evicted) : Caching::CloseFirst;
  if (caching == Caching::CloseFirst) {
    span.open = false;
    caching = page_source().protect(pointer, pages * kPageSize, Protection::NoAccess) ? put_cached(span, &evicted)
                                                                                     : Caching::Refused;
  }
  for (int i = 0; i < evicted.count; ++i) {
    const std::size_t victim = evicted.links[i] - 1;
    const std::uint64_t victim_record = records[victim].load(std::memory_order_relaxed);
    release_span(victim, shift_of(victim_record), high_of(victim_record), locked_of(victim_record));
  }
  if (caching != Caching::Kept) release_span(granule, span.shift, pages, span.locked);
}

std::size_t large_usable_size(const void* pointer, BlockUse use) noexcept {
  return high_of(live_record(pointer, use)) * kPageSize;
}

bool large_resize_in_place(void* pointer, std::size_t size) noexcept {
  const std::uint64_t record = live_record(pointer, BlockUse::Reallocate);
  const std::size_t span_pages = (std::size_t{1} << shift_of(record)) / kPageSize;
  const std::size_t old_pages = high_of(record);
  std::size_t new_pages = size / kPageSize + (size % kPageSize != 0);
  if (new_pages == 0 || new_pages >= span_pages) return false;
  auto* block = static_cast<std::byte*>(pointer);
  const bool locked = locked_of(record);
  if (new_pages > old_pages) {
    if (!page_source().extends_in_place()) return false;
    // A block that grows by realloc tends to go on growing: committing half
    // again as much (never into the guard page) makes the next reallocs
    // free of syscalls. Pages locked on fault cost nothing until touched.
    const std::size_t generous = old_pages + old_pages / 2;
    if (generous > new_pages) new_pages = generous < span_pages - 1 ? generous : span_pages - 1;
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
    publish(granule_of(pointer), make_record(kLive, locked, shift_of(record), new_pages));
    if (locked) keep_locked(epoch, extension, bytes);
    count_live(static_cast<std::int64_t>(bytes));
  } else if ((old_pages - new_pages) * 4 > old_pages) {
    // Less than a quarter idle stays: a block shrunk a little is often grown
    // again.
    if (!page_source().gives_back_part_of_a_range()) return false;
    // The smaller record first: a relock_pool must not lock the tail once
    // it is back in the reservation.
    publish(granule_of(pointer), make_record(kLive, locked, shift_of(record), new_pages) | (record & kResidentBit));
    std::byte* tail = block + new_pages * kPageSize;
    const std::size_t bytes = (old_pages - new_pages) * kPageSize;
    page_source().wipe(tail, bytes);
    page_source().decommit(tail, bytes, locked);
    count_live(-static_cast<std::int64_t>(bytes));
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
  bool reprotected_cache = false;
  for (std::size_t granule = 0; granule < (bump >> kMinSpanShift); ++granule) {
    std::uint64_t record = records[granule].load(std::memory_order_relaxed);
    if (state_of(record) == kUnused || state_of(record) == kFree || high_of(record) == 0) continue;
    const std::size_t offset = granule << kMinSpanShift;
    std::byte* span = zone + offset;
    const std::size_t bytes = high_of(record) * kPageSize;
    repair_up_to(offset);
    committed_to = offset + bytes;
    const Source::Renewal renewal = source.renew_in_child(span, bytes, locked_of(record));
    const bool fresh = renewal == Source::Renewal::ReadWrite || renewal == Source::Renewal::ReadWriteUnlocked;
    if (fresh) {
      // New pages, none of them resident yet.
      record &= renewal == Source::Renewal::ReadWriteUnlocked ? ~(kLockedBit | kResidentBit) : ~kResidentBit;
      records[granule].store(record, std::memory_order_relaxed);
      if (renewal == Source::Renewal::ReadWriteUnlocked) count_as_unlocked(bytes);
    }
    // Only a live block is open: a cached span is closed, and a busy one
    // belonged to a thread that does not exist in the child.
    if (fresh && state_of(record) != kLive) {
      (void)source.protect(span, bytes, Protection::NoAccess);
      reprotected_cache |= state_of(record) == kCachedOpen;
    }
  }
  // The open cache lists say what the spans on them are no longer.
  if (reprotected_cache) close_open_spans(false);
  repair_up_to(bump);
}

void large_prepare_fork() noexcept { span_mutex.lock(); }
void large_parent_after_fork() noexcept { span_mutex.unlock(); }
void large_child_after_fork() noexcept { ::new (&span_mutex) std::mutex; }

}  // namespace secbits::pool
