#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <unistd.h>

#include "os/secret.hpp"

namespace {

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

TEST(SecMem, CapacityIsWholePagesAtLeastOne) {
  EXPECT_EQ(secbits::SecMem(0).capacity(), kPage);
  EXPECT_EQ(secbits::SecMem(1).capacity(), kPage);
  EXPECT_EQ(secbits::SecMem(kPage).capacity(), kPage);
  EXPECT_EQ(secbits::SecMem(kPage + 1).capacity(), 2 * kPage);
}

TEST(SecMem, StartsNoAccessPageAlignedAndLocked) {
  secbits::SecMem memory(100);
  EXPECT_EQ(memory.protection(), secbits::Protection::NoAccess);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(memory.data()) % kPage, 0u);
  EXPECT_TRUE(memory.is_locked());
}

TEST(SecMem, ProtectChangesAccessAndRemembersIt) {
  secbits::SecMem memory(kPage);
  memory.protect(secbits::Protection::ReadWrite);
  memory.data()[0] = std::byte{42};
  memory.protect(secbits::Protection::ReadOnly);
  EXPECT_EQ(memory.protection(), secbits::Protection::ReadOnly);
  EXPECT_EQ(memory.data()[0], std::byte{42});
  memory.protect(secbits::Protection::NoAccess);
  EXPECT_EQ(memory.protection(), secbits::Protection::NoAccess);
}

TEST(SecMem, MoveTransfersTheRegion) {
  secbits::SecMem first(kPage);
  std::byte* data = first.data();
  secbits::SecMem second(std::move(first));
  EXPECT_EQ(first.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(first.capacity(), 0u);
  EXPECT_EQ(second.data(), data);
  secbits::SecMem third(kPage);
  third = std::move(second);
  EXPECT_EQ(third.data(), data);
}

TEST(SecMemBadInput, CapacityThatOverflowsPageRoundingIsAClearError) {
  try {
    secbits::SecMem memory(SIZE_MAX - 5);
    FAIL() << "no error";
  } catch (const secbits::Error& error) {
    EXPECT_EQ(error.code(), std::errc::value_too_large);
    EXPECT_NE(std::string(error.what()).find("rounding up to whole pages overflows size_t"), std::string::npos)
        << error.what();
  }
}

TEST(SecMemBadInput, CapacityTooLargeToMapNamesTheFailedCall) {
  try {
    secbits::SecMem memory(SIZE_MAX / 2);
    FAIL() << "no error";
  } catch (const secbits::Error& error) {
    EXPECT_EQ(error.code(), std::errc::not_enough_memory);
    EXPECT_EQ(std::string(error.what()).rfind("mmap of ", 0), 0u) << error.what();
  }
}

// Programs built against 0.1 allocate SecMem and SecBytes themselves (on
// the stack, in their own objects): the page source must not grow them.
TEST(SecMemLayout, SizesAreThoseOf01) {
  EXPECT_EQ(sizeof(secbits::SecMem), 3 * sizeof(void*));
  EXPECT_EQ(sizeof(secbits::SecBytes), 96u);
}

TEST(SecMemSource, AnonymousAndEmptyRegionsAreNotSecret) {
  const secbits::SecMem anonymous(kPage, secbits::LockPolicy::Strict, secbits::PageSource::Anonymous);
  EXPECT_FALSE(anonymous.is_secret());
  EXPECT_TRUE(anonymous.is_locked());
  EXPECT_FALSE(secbits::SecMem().is_secret());
}

class SecMemSecret : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto status = secbits::os::probe_secret_memory(); !status.ok()) {
      GTEST_SKIP() << "no secret memory on this kernel: memfd_secret: " << std::strerror(status.error);
    }
  }
};

TEST_F(SecMemSecret, RegionIsSecretLockedWholePagesAndNoAccess) {
  const secbits::SecMem memory(kPage + 1, secbits::LockPolicy::Strict, secbits::PageSource::Secret);
  EXPECT_TRUE(memory.is_secret());
  EXPECT_TRUE(memory.is_locked());
  EXPECT_EQ(memory.capacity(), 2 * kPage);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(memory.data()) % kPage, 0u);
  EXPECT_EQ(memory.protection(), secbits::Protection::NoAccess);
}

TEST_F(SecMemSecret, ProtectChangesAccessAndRemembersIt) {
  secbits::SecMem memory(kPage, secbits::LockPolicy::Strict, secbits::PageSource::Secret);
  memory.protect(secbits::Protection::ReadWrite);
  memory.data()[kPage - 1] = std::byte{42};
  memory.protect(secbits::Protection::ReadOnly);
  EXPECT_EQ(memory.protection(), secbits::Protection::ReadOnly);
  EXPECT_EQ(memory.data()[kPage - 1], std::byte{42});
  memory.protect(secbits::Protection::NoAccess);
  EXPECT_EQ(memory.protection(), secbits::Protection::NoAccess);
}

TEST_F(SecMemSecret, MoveTransfersTheRegionAndItsSource) {
  secbits::SecMem first(kPage, secbits::LockPolicy::Strict, secbits::PageSource::Secret);
  std::byte* data = first.data();
  secbits::SecMem second(std::move(first));
  EXPECT_FALSE(first.is_secret());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(second.is_secret());
  secbits::SecMem third(kPage, secbits::LockPolicy::Strict, secbits::PageSource::Anonymous);
  third = std::move(second);
  EXPECT_EQ(third.data(), data);
  EXPECT_TRUE(third.is_secret());
  third = secbits::SecMem(kPage, secbits::LockPolicy::Strict, secbits::PageSource::Anonymous);
  EXPECT_FALSE(third.is_secret());
}

TEST(Error, IsASystemErrorWithOperationDescriptionAndHint) {
  const secbits::Error error(std::make_error_code(std::errc::not_enough_memory), "mlock of 8192 bytes failed",
                             "RLIMIT_MEMLOCK is 65536 bytes; raise it or grant CAP_IPC_LOCK");
  const std::system_error& as_system_error = error;
  EXPECT_EQ(as_system_error.code(), std::errc::not_enough_memory);
  EXPECT_STREQ(error.what(),
               "mlock of 8192 bytes failed: Cannot allocate memory (RLIMIT_MEMLOCK is 65536 bytes; raise it or "
               "grant CAP_IPC_LOCK)");
}

}  // namespace
