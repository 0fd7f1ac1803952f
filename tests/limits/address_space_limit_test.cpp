// RLIMIT_AS: the pool reserves 64 GiB of address space and halves it until
// the kernel agrees, down to 1 GiB. Under a modest limit it works with a
// smaller reservation and keeps every guarantee; under a limit with no room
// for it, every secure allocation fails with ENOMEM and the process is told
// why once. (Not run under AddressSanitizer, whose shadow memory alone
// exceeds any such limit.)
#include <secbits/secbits.h>
#include <secbits/secmem.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/resource.h>

#include "injection/fresh_pool.hpp"
#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::broken;

/// VmSize of this process, in bytes.
std::size_t address_space_in_use() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

bool limit_address_space(std::size_t headroom) {
  const rlimit limit{address_space_in_use() + headroom, address_space_in_use() + headroom};
  return ::setrlimit(RLIMIT_AS, &limit) == 0;
}

TEST(AddressSpaceLimit, UnderAModestLimitThePoolKeepsItsGuarantees) {
  const auto result = secbits::test::run_with_fresh_pool([] {
    if (!limit_address_space(std::size_t{3} << 30)) return broken("setrlimit failed");
    for (std::size_t size : {std::size_t{64}, std::size_t{5000}, std::size_t{300} << 10}) {
      void* block = secbits_malloc(size);
      if (block == nullptr) return broken("secbits_malloc(" + std::to_string(size) + ") failed under RLIMIT_AS");
      std::memset(block, 0xA5, size);
      const auto mapping = secbits::test::mapping_containing(block);
      if (!mapping || !mapping->has_flag("lo") || !mapping->has_flag("dd")) return broken("not locked and undumpable");
      secbits_free(block);
      if (!secbits::test::observe_memory(block, size).wiped_or_inaccessible()) return broken("freed block readable");
    }
    return 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "");
}

TEST(AddressSpaceLimit, WithNoRoomForAPoolEveryAllocationIsEnomemAndTheReasonIsSaidOnce) {
  const auto result = secbits::test::run_with_fresh_pool([] {
    if (!limit_address_space(std::size_t{256} << 20)) return broken("setrlimit failed");
    for (int attempt = 0; attempt < 3; ++attempt) {
      errno = 0;
      if (secbits_malloc(64) != nullptr) return broken("served without a reservation");
      if (errno != ENOMEM) return broken("errno is not ENOMEM");
    }
    // SecMem maps its own region, not the pool's: it still works.
    secbits::SecMem memory(4096);
    return memory.is_locked() ? 0 : broken("SecMem not locked");
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  const std::string expected = "secbits: cannot reserve address space for the secure pool (mmap of 1073741824 bytes "
                               "failed: Cannot allocate memory; RLIMIT_AS is ";
  EXPECT_EQ(result.output.rfind(expected, 0), 0u) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
}

}  // namespace
