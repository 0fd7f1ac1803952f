// Closing and reopening pages splits the pool's mapping into many kernel VMAs;
// past vm.max_map_count (65530 by default) every mmap and mprotect of the
// process fails. A long churn of mixed sizes, with a live set that swells and
// shrinks so that pages keep emptying and refilling, must keep the number of
// mappings bounded under every page protection policy, as /proc/self/maps
// shows it.
#include <secbits/secbits.h>

#include <secbits/pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "support/lock_budget.hpp"
#include "support/smaps.hpp"

namespace {

// A million allocations per policy, in rounds that each end with every block
// freed: about half a second in a release build, not much more under
// AddressSanitizer (the time goes to the kernel).
constexpr std::size_t kCycles = 1'000'000;
constexpr std::size_t kRounds = 4;
constexpr std::size_t kSamples = 12;  // maps counts taken per round

constexpr std::size_t kMaxMapsGrowth = 2000;
constexpr std::size_t kMaxPoolMappings = 4000;
constexpr std::size_t kMaxGrowthBetweenRounds = 100;

// Mappings of /proc/self/maps that lie (at least partly) in the pool's range.
std::size_t pool_mapping_count() {
  std::size_t count = 0;
  for (const auto& [start, end] : secbits::test::mapping_ranges()) {
    const bool inside = secbits_owns(reinterpret_cast<const void*>(start)) ||
                        secbits_owns(reinterpret_cast<const void*>(end - 1));
    count += inside ? 1 : 0;
  }
  return count;
}

// Mostly small blocks, a tail of page runs up to 64 KiB: about 3 MiB live.
// With a slab per size class the pool commits a little over 8 MiB for it, so
// this needs CAP_IPC_LOCK (root) or an RLIMIT_MEMLOCK above the 8 MiB default.
std::size_t random_size(std::mt19937_64& random) {
  const auto pick = [&random](std::size_t low, std::size_t high) { return low + random() % (high - low + 1); };
  const std::uint64_t bucket = random() % 1000;
  if (bucket < 700) return pick(16, 256);
  if (bucket < 950) return pick(257, 4096);
  if (bucket < 990) return pick(4097, 16384);
  return pick(16385, 65536);
}

struct ChurnPeaks {
  std::size_t maps = 0;
  std::size_t pool_maps = 0;
  std::size_t stats_vmas = 0;
};

// `cycles` allocations, each freed later in random order. The live set moves
// between about 2500 and 300 blocks every 50,000 allocations: a shrink empties
// most pages at once, the next swell fills them again.
ChurnPeaks churn(std::size_t cycles, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<void*> live;
  live.reserve(4096);
  ChurnPeaks peaks;
  std::size_t target = 2500;
  for (std::size_t allocations = 0; allocations < cycles;) {
    const bool toward_target = random() % 4 != 0;
    const bool allocate = live.empty() || (live.size() < target ? toward_target : !toward_target);
    if (allocate) {
      const std::size_t size = random_size(random);
      auto* p = static_cast<unsigned char*>(secbits_malloc(size));
      if (p == nullptr) {
        const int error = errno;
        ADD_FAILURE() << "secbits_malloc(" << size << ") failed after " << allocations << " allocations: "
                      << std::strerror(error) << "; " << secbits::stats().lock_failures << " lock failures, "
                      << secbits::stats().bytes_locked << " bytes locked; "
                      << secbits::test::describe_lock_budget();
        break;
      }
      p[0] = 1;  // touch both ends: the pages are open
      p[size - 1] = 1;
      live.push_back(p);
      ++allocations;
      if (allocations % 50'000 == 0) target = target == 2500 ? 300 : 2500;
      if (allocations % (cycles / kSamples) == 0) {
        peaks.maps = std::max(peaks.maps, secbits::test::mapping_count());
        peaks.pool_maps = std::max(peaks.pool_maps, pool_mapping_count());
        peaks.stats_vmas = std::max(peaks.stats_vmas, secbits::stats().vmas);
      }
    } else {
      const std::size_t victim = random() % live.size();
      std::swap(live[victim], live.back());
      secbits_free(live.back());
      live.pop_back();
    }
  }
  for (void* p : live) secbits_free(p);
  return peaks;
}

class PoolVmaCount : public ::testing::TestWithParam<secbits_page_protection> {
 protected:
  void TearDown() override { secbits_set_page_protection(SECBITS_PROTECT_CACHED); }
};

TEST_P(PoolVmaCount, StaysBoundedThroughLongChurnOfMixedSizes) {
  const secbits_page_protection policy = GetParam();
  const std::size_t baseline_in_use = secbits::stats().bytes_in_use;
  const std::size_t maps_before = secbits::test::mapping_count();
  secbits_set_page_protection(policy);

  ChurnPeaks peaks;
  std::vector<std::size_t> pool_maps_after_round;
  for (std::size_t round = 0; round < kRounds; ++round) {
    const ChurnPeaks round_peaks = churn(kCycles / kRounds, 0x5EC0B175 + 16 * static_cast<std::uint64_t>(policy) + round);
    peaks.maps = std::max(peaks.maps, round_peaks.maps);
    peaks.pool_maps = std::max(peaks.pool_maps, round_peaks.pool_maps);
    peaks.stats_vmas = std::max(peaks.stats_vmas, round_peaks.stats_vmas);
    secbits_collect();
    pool_maps_after_round.push_back(pool_mapping_count());
  }

  const std::size_t maps_after = secbits::test::mapping_count();
  const std::size_t stats_vmas_after = secbits::stats().vmas;
  testing::Message rounds;
  for (const std::size_t count : pool_maps_after_round) rounds << " " << count;
  SCOPED_TRACE(testing::Message() << "maps before " << maps_before << ", peak " << peaks.maps << ", after "
                                  << maps_after << "; in the pool's range: peak " << peaks.pool_maps
                                  << ", after each round" << rounds << "; stats.vmas: peak " << peaks.stats_vmas
                                  << ", after " << stats_vmas_after);
  EXPECT_LT(peaks.maps, maps_before + kMaxMapsGrowth);
  EXPECT_LT(maps_after, maps_before + kMaxMapsGrowth);
  EXPECT_LT(peaks.pool_maps, kMaxPoolMappings);
  EXPECT_LT(peaks.stats_vmas, kMaxPoolMappings);
  EXPECT_LT(stats_vmas_after, kMaxPoolMappings);
  // Each round ends with every block freed and collected: what the pool still
  // keeps mapped then must not grow round after round, or a long-running
  // program would reach vm.max_map_count in the end.
  for (std::size_t round = 1; round < kRounds; ++round) {
    EXPECT_LE(pool_maps_after_round[round], pool_maps_after_round[0] + kMaxGrowthBetweenRounds) << "round " << round;
  }
  EXPECT_EQ(secbits::stats().bytes_in_use, baseline_in_use);
}

INSTANTIATE_TEST_SUITE_P(EveryPageProtection, PoolVmaCount,
                         ::testing::Values(SECBITS_PROTECT_CACHED, SECBITS_PROTECT_EAGER, SECBITS_PROTECT_NONE),
                         [](const ::testing::TestParamInfo<secbits_page_protection>& info) {
                           switch (info.param) {
                             case SECBITS_PROTECT_CACHED: return "Cached";
                             case SECBITS_PROTECT_EAGER: return "Eager";
                             case SECBITS_PROTECT_NONE: return "None";
                           }
                           return "Unknown";
                         });

}  // namespace
