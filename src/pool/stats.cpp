#include "pool/stats.hpp"

#include "os/proc.hpp"
#include "pool/heap.hpp"
#include "pool/region.hpp"

namespace secbits::pool {

constinit Counters g_counters;
constinit std::atomic<std::size_t (*)() noexcept> g_fallback_bytes_in_use{nullptr};

std::size_t sample_bytes_in_use() noexcept {
  std::int64_t total = g_counters.large_bytes_in_use.load(std::memory_order_relaxed) -
                       g_counters.bytes_freed_without_heap.load(std::memory_order_relaxed);
  for (const ThreadHeap* heap = first_heap(); heap != nullptr; heap = heap->next_registered) {
    total += heap->bytes_in_use.load(std::memory_order_relaxed);
  }
  const std::size_t in_use = total > 0 ? static_cast<std::size_t>(total) : 0;
  std::size_t peak = g_counters.peak_bytes_in_use.load(std::memory_order_relaxed);
  while (in_use > peak &&
         !g_counters.peak_bytes_in_use.compare_exchange_weak(peak, in_use, std::memory_order_relaxed)) {
  }
  return in_use;
}

void snapshot(struct ::secbits_stats* out) noexcept {
  const auto read = [](const std::atomic<std::size_t>& counter) { return counter.load(std::memory_order_relaxed); };
  out->bytes_in_use = sample_bytes_in_use();
  out->peak_bytes_in_use = read(g_counters.peak_bytes_in_use);
  out->bytes_committed = read(g_counters.bytes_committed);
  out->bytes_locked = read(g_counters.bytes_locked);
  out->bytes_unlocked = read(g_counters.bytes_unlocked);
  out->slabs = read(g_counters.slabs);
  out->large_blocks = read(g_counters.large_blocks);
  const std::uintptr_t base = g_region.base.load(std::memory_order_acquire);
  out->vmas = base == 0 ? 0
                        : os::count_mappings_in(reinterpret_cast<const void*>(base),
                                                reinterpret_cast<const void*>(
                                                    base + g_region.total_bytes.load(std::memory_order_relaxed)));
  out->protection_flips = read(g_counters.protection_flips);
  out->lock_failures = read(g_counters.lock_failures);
  out->flips_skipped = read(g_counters.flips_skipped);
  const auto fallback = g_fallback_bytes_in_use.load(std::memory_order_relaxed);
  out->fallback_bytes_in_use = fallback != nullptr ? fallback() : 0;
}

}  // namespace secbits::pool
