#include "pool/large.hpp"

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <mutex>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/wipe.hpp"
#include "pool/layout.hpp"
#include "pool/region.hpp"
#include "pool/stats.hpp"

namespace secbits::pool {

namespace {

// One record per 32 KiB granule of the zone; only a span's first granule has
// one. Layout: bits 0-1 state, bit 2 locked, bits 3-8 log2 of the span size,
// bits 32-63 committed pages (live) or the next free span's granule + 1 (free).
enum : std::uint64_t { kUnused = 0, kLive = 1, kFree = 2, kBusy = 3 };
constexpr std::uint64_t kStateMask = 3;
constexpr std::uint64_t kLockedBit = 4;

constexpr std::uint64_t make_record(std::uint64_t state, bool locked, unsigned shift, std::uint64_t high) noexcept {
  return state | (locked ? kLockedBit : 0) | (std::uint64_t{shift} << 3) | (high << 32);
}
constexpr std::uint64_t state_of(std::uint64_t record) noexcept { return record & kStateMask; }
constexpr unsigned shift_of(std::uint64_t record) noexcept { return static_cast<unsigned>((record >> 3) & 63); }
constexpr std::size_t high_of(std::uint64_t record) noexcept { return static_cast<std::size_t>(record >> 32); }
constexpr bool locked_of(std::uint64_t record) noexcept { return (record & kLockedBit) != 0; }

constinit std::byte* zone = nullptr;
constinit std::size_t zone_bytes = 0;
constinit std::atomic<std::uint64_t>* records = nullptr;

// Guards the free lists and the bump offset.
constinit std::mutex span_mutex;
constinit std::uint32_t free_spans[64] = {};  // granule + 1 of the first free span of each size
constinit std::size_t bump = 0;

std::size_t granule_of(const void* pointer) noexcept {
  return static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone) >> kMinSpanShift;
}

/// The record of the live block that starts at `pointer`; aborts otherwise.
std::uint64_t live_record(const void* pointer) noexcept {
  const auto offset = static_cast<std::size_t>(static_cast<const std::byte*>(pointer) - zone);
  if ((offset & ((std::size_t{1} << kMinSpanShift) - 1)) != 0) {
    os::fatal("invalid free (not the start of a block)", pointer);
  }
  const std::uint64_t record = records[offset >> kMinSpanShift].load(std::memory_order_acquire);
  if (state_of(record) == kLive) return record;
  if (state_of(record) == kFree) os::fatal("double free", pointer);
  os::fatal("invalid free (not the start of a block)", pointer);
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

}  // namespace

bool large_initialise(std::byte* zone_start, std::size_t bytes) noexcept {
  void* table = nullptr;
  if (!os::map_bookkeeping((bytes >> kMinSpanShift) * sizeof(std::atomic<std::uint64_t>), &table).ok()) return false;
  zone = zone_start;
  zone_bytes = bytes;
  records = static_cast<std::atomic<std::uint64_t>*>(table);
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
  std::size_t granule = 0;
  if (span > zone_bytes || !pop_span(shift, &granule)) {
    errno = ENOMEM;
    return nullptr;
  }
  std::byte* block = zone + (granule << kMinSpanShift);
  bool locked = false;
  if (!commit(block, pages * kPageSize, &locked)) {
    push_free_span(granule, shift);
    return nullptr;
  }
  records[granule].store(make_record(kLive, locked, shift, pages), std::memory_order_release);
  add(g_counters.large_blocks, 1);
  g_counters.mapping_estimate.fetch_add(2, std::memory_order_relaxed);
  return block;
}

void large_free(void* pointer) noexcept {
  std::uint64_t record = live_record(pointer);
  const std::size_t granule = granule_of(pointer);
  // Claim the block, so that a second free racing with this one is caught.
  if (!records[granule].compare_exchange_strong(record, (record & ~kStateMask) | kBusy, std::memory_order_acq_rel)) {
    os::fatal("double free", pointer);
  }
  const std::size_t bytes = high_of(record) * kPageSize;
  os::secure_wipe(pointer, bytes);
  decommit(static_cast<std::byte*>(pointer), bytes, locked_of(record));
  push_free_span(granule, shift_of(record));
  subtract(g_counters.large_blocks, 1);
  g_counters.mapping_estimate.fetch_sub(2, std::memory_order_relaxed);
}

std::size_t large_usable_size(const void* pointer) noexcept { return high_of(live_record(pointer)) * kPageSize; }

bool large_resize_in_place(void* pointer, std::size_t size) noexcept {
  const std::uint64_t record = live_record(pointer);
  const std::size_t span = std::size_t{1} << shift_of(record);
  const std::size_t old_pages = high_of(record);
  const std::size_t new_pages = size / kPageSize + (size % kPageSize != 0);
  if (new_pages == 0 || new_pages >= span / kPageSize) return false;
  auto* block = static_cast<std::byte*>(pointer);
  const bool locked = locked_of(record);
  if (new_pages > old_pages) {
    bool extension_locked = false;
    std::byte* extension = block + old_pages * kPageSize;
    const std::size_t bytes = (new_pages - old_pages) * kPageSize;
    if (!commit(extension, bytes, &extension_locked)) return false;
    // One lock state per block: a block half locked could not say which.
    if (extension_locked != locked) {
      decommit(extension, bytes, extension_locked);
      return false;
    }
  } else if (new_pages < old_pages) {
    std::byte* tail = block + new_pages * kPageSize;
    const std::size_t bytes = (old_pages - new_pages) * kPageSize;
    os::secure_wipe(tail, bytes);
    decommit(tail, bytes, locked);
  }
  records[granule_of(pointer)].store(make_record(kLive, locked, shift_of(record), new_pages),
                                     std::memory_order_release);
  return true;
}

void large_relock_after_fork() noexcept {
  for (std::size_t granule = 0; granule < (bump >> kMinSpanShift); ++granule) {
    const std::uint64_t record = records[granule].load(std::memory_order_relaxed);
    if (state_of(record) != kLive || !locked_of(record)) continue;
    if (!os::lock(zone + (granule << kMinSpanShift), high_of(record) * kPageSize).ok()) {
      add(g_counters.lock_failures, 1);
    }
  }
}

void large_prepare_fork() noexcept { span_mutex.lock(); }
void large_parent_after_fork() noexcept { span_mutex.unlock(); }
void large_child_after_fork() noexcept { ::new (&span_mutex) std::mutex; }

}  // namespace secbits::pool
