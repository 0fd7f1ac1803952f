#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <secbits/secbits.h>

namespace secbits::pool {

/// Pool-wide counters, changed on slow paths only (commits, flips, large
/// blocks). Bytes in use are counted per heap instead, so that the fast paths
/// touch no shared cache line.
struct Counters {
  std::atomic<std::size_t> bytes_committed{0};
  std::atomic<std::size_t> bytes_locked{0};
  std::atomic<std::size_t> bytes_unlocked{0};
  std::atomic<std::size_t> slabs{0};
  std::atomic<std::size_t> large_blocks{0};
  std::atomic<std::size_t> protection_flips{0};
  std::atomic<std::size_t> lock_failures{0};
  std::atomic<std::size_t> flips_skipped{0};
  std::atomic<std::int64_t> mapping_estimate{0};  // what the VMA budget is checked against
  std::atomic<std::int64_t> bytes_freed_without_heap{0};  // by threads that have no heap
  std::atomic<std::int64_t> large_bytes_in_use{0};
  std::atomic<std::size_t> peak_bytes_in_use{0};
};

extern constinit Counters g_counters;

/// Set by the interposer in tagged mode: how many bytes its fallback arena
/// holds, for the statistics to report both sides.
extern constinit std::atomic<std::size_t (*)() noexcept> g_fallback_bytes_in_use;

inline void add(std::atomic<std::size_t>& counter, std::size_t value) noexcept {
  counter.fetch_add(value, std::memory_order_relaxed);
}
inline void subtract(std::atomic<std::size_t>& counter, std::size_t value) noexcept {
  counter.fetch_sub(value, std::memory_order_relaxed);
}

/// Sums the heaps and updates the peak; called on slow paths and by stats.
std::size_t sample_bytes_in_use() noexcept;

void snapshot(struct ::secbits_stats* out) noexcept;

}  // namespace secbits::pool
