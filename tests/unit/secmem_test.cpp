#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <unistd.h>

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
