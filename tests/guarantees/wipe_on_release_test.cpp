// Regions are wiped before they are released: the OS layer's release observer
// looks at the real bytes of every region just before munmap.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "os/pages.hpp"

namespace {

struct Released {
  std::size_t size;
  std::size_t nonzero_bytes;
};

std::vector<Released>* released = nullptr;

void record_release(const std::byte* usable, std::size_t size) {
  if (released == nullptr) return;
  const auto nonzero = static_cast<std::size_t>(
      std::count_if(usable, usable + size, [](std::byte b) { return b != std::byte{0}; }));
  released->push_back({size, nonzero});
}

class WipeOnRelease : public ::testing::Test {
 protected:
  void SetUp() override {
    released = &log_;
    secbits::os::testing::set_release_observer(record_release);
  }
  void TearDown() override {
    secbits::os::testing::set_release_observer(nullptr);
    released = nullptr;
  }
  std::vector<Released> log_;
};

TEST_F(WipeOnRelease, SecMemIsZeroWhenUnmapped) {
  {
    secbits::SecMem memory(3 * 4096);
    memory.protect(secbits::Protection::ReadWrite);
    std::fill(memory.data(), memory.data() + memory.capacity(), std::byte{0x5A});
    memory.protect(secbits::Protection::NoAccess);
  }
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].size, 3 * 4096u);
  EXPECT_EQ(log_[0].nonzero_bytes, 0u);
}

TEST_F(WipeOnRelease, EveryRegionLeftBehindByGrowthIsZero) {
  {
    secbits::SecBytes secret;
    std::size_t total = 0;
    std::size_t chunk = 1;
    while (total < (1u << 20)) {
      std::string piece(chunk, static_cast<char>('a' + chunk % 26));
      secret.append(piece);
      total += chunk;
      chunk = chunk * 7 % 5003 + 1;
    }
    // Growth from nothing to 1 MiB leaves a trail of old regions.
    EXPECT_GE(log_.size(), 8u);
  }
  ASSERT_FALSE(log_.empty());
  for (const auto& region : log_) EXPECT_EQ(region.nonzero_bytes, 0u) << "region of " << region.size << " bytes";
}

}  // namespace
