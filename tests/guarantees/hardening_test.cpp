// The hardening levels' checks at the pool's own API: an overflow into the
// canary (level 3), a write after free found when the block is handed out
// again (level 2), and what level 0 lets through. A level is fixed when the
// pool starts, once per process: every case runs its pool in a death test of
// the "threadsafe" style, a fresh exec of this binary that runs only that
// test, so no other test's pool is in the way, whichever order they run in.
// The programs' view of the same bugs, under the interposer at every level,
// is tests/misuse.
#include <secbits/pool.hpp>
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::size_t kRequest = 40;  // 48-byte class; at level 3, 40 bytes and the canary

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

/// Hides where a pointer came from, so that the compiler neither warns about
/// the bug nor optimises it away.
unsigned char* opaque(void* pointer) {
  __asm__ volatile("" : "+r"(pointer));
  return static_cast<unsigned char*>(pointer);
}

/// A block of kRequest bytes overflowed by `by` bytes, then freed; exits 0 if
/// the pool let it through.
[[noreturn]] void overflow_then_free(unsigned level, std::size_t by) {
  secbits::set_hardening(level);
  unsigned char* block = opaque(secbits_malloc(kRequest));
  if (block == nullptr) std::_Exit(2);
  std::memset(block + kRequest, 'A', by);
  secbits_free(block);
  std::_Exit(0);
}

/// A block written after its free, then enough frees of the same size to
/// push it out of a quarantine and enough allocations to hand it out again;
/// exits 0 if the pool let it through.
[[noreturn]] void write_after_free_then_allocate(unsigned level) {
  secbits::set_hardening(level);
  unsigned char* block = opaque(secbits_malloc(kRequest));
  if (block == nullptr) std::_Exit(2);
  secbits_free(block);
  block[0] = 'A';
  for (int i = 0; i < 64; ++i) secbits_free(secbits_malloc(kRequest));
  for (int i = 0; i < 128; ++i) (void)secbits_malloc(kRequest);
  std::_Exit(0);
}

/// A block written after its free, then calloc of its size until the block
/// comes back. Exits 0 if it did, cleared; 1 if any block calloc returned
/// held a byte other than zero; 3 if the block never came back.
[[noreturn]] void calloc_after_write_after_free(unsigned level) {
  secbits::set_hardening(level);
  std::array<void*, 16> others{};  // freed after the bug: they push it out of a quarantine
  for (void*& other : others) other = secbits_malloc(kRequest);
  unsigned char* block = opaque(secbits_malloc(kRequest));
  if (block == nullptr) std::_Exit(2);
  secbits_free(block);
  block[0] = 'A';
  for (void* other : others) secbits_free(other);
  bool came_back = false;
  for (int i = 0; i < 128; ++i) {
    const auto* zeroed = static_cast<const unsigned char*>(secbits_calloc(1, kRequest));
    if (zeroed == nullptr) std::_Exit(2);
    for (std::size_t byte = 0; byte < kRequest; ++byte) {
      if (zeroed[byte] != 0) std::_Exit(1);
    }
    came_back = came_back || zeroed == block;
  }
  std::_Exit(came_back ? 0 : 3);
}

TEST_F(Hardening, Level3OverflowByOneByteIntoTheCanaryAbortsAtTheFree) {
  EXPECT_DEATH(overflow_then_free(3, 1), "secbits: heap overflow detected 0x[0-9a-f]+ \\(block of 40 bytes\\)\n");
}

TEST_F(Hardening, Level3OverflowBySixteenBytesIntoTheNextBlockAbortsAtTheFree) {
  EXPECT_DEATH(overflow_then_free(3, 16), "secbits: heap overflow detected 0x[0-9a-f]+ \\(block of 40 bytes\\)\n");
}

TEST_F(Hardening, Level0LetsTheSameOverflowsThrough) {
  EXPECT_EXIT(overflow_then_free(0, 1), ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(overflow_then_free(0, 16), ::testing::ExitedWithCode(0), "");
}

TEST_F(Hardening, Level2WriteAfterFreeAbortsWhenTheBlockIsHandedOutAgain) {
  EXPECT_DEATH(write_after_free_then_allocate(2),
               "secbits: write after free detected 0x[0-9a-f]+ \\(block of 48 bytes\\)\n");
}

TEST_F(Hardening, Level3WriteAfterFreeAbortsWhenTheBlockIsHandedOutAgain) {
  EXPECT_DEATH(write_after_free_then_allocate(3),
               "secbits: write after free detected 0x[0-9a-f]+ \\(block of 40 bytes\\)\n");
}

TEST_F(Hardening, Level0LetsTheWriteAfterFreeThrough) {
  EXPECT_EXIT(write_after_free_then_allocate(0), ::testing::ExitedWithCode(0), "");
}

// "calloc starts zeroed" holds at every level: levels 0 and 1 clear the block
// again, levels 2 and 3 stop the process rather than hand it out dirty.
TEST_F(Hardening, CallocAfterWriteAfterFreeReturnsTheBlockClearedAtLevels0And1) {
  EXPECT_EXIT(calloc_after_write_after_free(0), ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(calloc_after_write_after_free(1), ::testing::ExitedWithCode(0), "");
}

TEST_F(Hardening, CallocAfterWriteAfterFreeNeverHandsOutTheBlockAtLevels2And3) {
  EXPECT_DEATH(calloc_after_write_after_free(2), "secbits: write after free detected 0x[0-9a-f]+ \\(block of 48 bytes\\)\n");
  EXPECT_DEATH(calloc_after_write_after_free(3), "secbits: write after free detected 0x[0-9a-f]+ \\(block of 40 bytes\\)\n");
}

}  // namespace
