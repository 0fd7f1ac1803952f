// Where the kernel puts the pool's reservation differs between kernels: 6.7+
// happen to 2 MiB-align a large anonymous mapping, Debian 12's 6.1 does not.
// The seam places it a chosen distance past a 2 MiB boundary; every aligned
// block must still be aligned, and every guarantee hold.
#include <secbits/memory_resource.hpp>
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <string>
#include <vector>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"
#include "os/pages.hpp"
#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::broken;
using secbits::test::run_with_fresh_pool;

constexpr std::size_t kTwoMiB = std::size_t{2} << 20;

bool aligned(const void* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

std::string hex(const void* pointer) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", pointer);
  return text;
}

TEST(MisalignedReservation, TheSeamPlacesAReservationPastA2MiBBoundaryAndReserveRealignsIt) {
  const auto result = run_with_fresh_pool([] {
    secbits::os::testing::misalign_reservations(4096);
    std::byte* page_aligned = nullptr;
    if (!secbits::os::reserve(std::size_t{1} << 30, 4096, &page_aligned).ok()) return broken("reserve failed");
    if (reinterpret_cast<std::uintptr_t>(page_aligned) % kTwoMiB != 4096) {
      return broken("the seam did not misalign the reservation: " + hex(page_aligned));
    }
    std::byte* realigned = nullptr;
    if (!secbits::os::reserve(std::size_t{1} << 30, kTwoMiB, &realigned).ok()) return broken("reserve failed");
    if (!aligned(realigned, kTwoMiB)) return broken("reserve(2 MiB alignment) gave " + hex(realigned));
    return 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

class MisalignedBy : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MisalignedBy, AlignedBlocksAreAlignedLockedUndumpableAndWiped) {
  const std::size_t skew = GetParam();
  const auto result = run_with_fresh_pool([skew] {
    secbits::os::testing::misalign_reservations(skew);
    for (std::size_t alignment = 8192; alignment <= (std::size_t{1} << 20); alignment *= 2) {
      for (std::size_t size : {std::size_t{100}, alignment, alignment + 1, 3 * alignment}) {
        // Several live at once: one block may be aligned by chance.
        std::vector<void*> blocks;
        for (int i = 0; i < 6; ++i) {
          void* block = secbits_aligned_alloc(alignment, size);
          if (block == nullptr) return broken("secbits_aligned_alloc failed");
          if (!aligned(block, alignment)) {
            return broken("secbits_aligned_alloc(" + std::to_string(alignment) + ", " + std::to_string(size) +
                          ") = " + hex(block) + " with the reservation " + std::to_string(skew) +
                          " bytes past 2 MiB");
          }
          std::memset(block, 0xA5, size);
          blocks.push_back(block);
        }
        const auto mappings = secbits::test::all_mappings();
        for (void* block : blocks) {
          const auto* mapping = secbits::test::find_mapping(mappings, block);
          if (mapping == nullptr || !mapping->has_flag("lo") || !mapping->has_flag("dd")) {
            return broken("an aligned block is not in a locked, undumpable mapping");
          }
        }
        for (void* block : blocks) {
          secbits_free(block);
          if (!secbits::test::observe_memory(block, size).wiped_or_inaccessible()) {
            return broken("a freed aligned block can be read back");
          }
        }
      }
    }
    // The pmr resource promises alignments far above a page.
    std::pmr::memory_resource* resource = secbits::secure_memory_resource();
    for (std::size_t alignment : {std::size_t{1} << 21, std::size_t{1} << 26}) {
      void* block = resource->allocate(alignment / 2, alignment);
      if (!aligned(block, alignment)) return broken("pmr allocate(" + std::to_string(alignment) + ") = " + hex(block));
      resource->deallocate(block, alignment / 2, alignment);
    }
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

INSTANTIATE_TEST_SUITE_P(Pages, MisalignedBy,
                         ::testing::Values(std::size_t{4096}, std::size_t{8192}, std::size_t{36864},
                                           std::size_t{1048576 + 4096}));

}  // namespace
