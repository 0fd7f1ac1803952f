// Sealing, observed from inside the process: on a kernel with mseal (6.10+)
// the pool's tables and the canary secret's page refuse munmap and mprotect
// from any code of the process; on one without (Debian 12's 6.1, reached
// through the OS layer's seam) the pool works the same, says that nothing is
// sealed, and never asks the kernel again.
#include <secbits/pool.hpp>
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"
#include "pool/hardening.hpp"
#include "pool/region.hpp"

namespace {

using secbits::test::broken;

constexpr std::size_t kPage = 4096;
constexpr long kMsealSyscall = 462;

bool kernel_has_mseal() {
  void* probe = ::mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) return false;
  // A page sealed for nothing: it stays mapped until the test binary exits.
  return ::syscall(kMsealSyscall, probe, kPage, 0UL) == 0;
}

void* page_of(const void* address) {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(address) & ~(kPage - 1));
}

/// "" if mprotect and munmap of the page at `address` are both refused with
/// EPERM, else what happened.
std::string refuses_changes(const void* address, const char* what) {
  void* page = page_of(address);
  if (::mprotect(page, kPage, PROT_NONE) == 0) return std::string(what) + " could be made PROT_NONE";
  if (errno != EPERM) return std::string(what) + ": mprotect failed with " + std::strerror(errno) + ", not EPERM";
  if (::munmap(page, kPage) == 0) return std::string(what) + " could be unmapped";
  if (errno != EPERM) return std::string(what) + ": munmap failed with " + std::strerror(errno) + ", not EPERM";
  return {};
}

/// Whether the kernel refuses to write to `address` (EFAULT from a read()
/// into it): no fault for a sanitizer's handler to catch.
bool write_faults(const void* address) {
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) return false;
  const char byte = 1;
  bool refused = false;
  if (::write(pipe_ends[1], &byte, 1) == 1) {
    refused = ::read(pipe_ends[0], const_cast<void*>(address), 1) < 0 && errno == EFAULT;
  }
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
  return refused;
}

// On this very kernel: sealed and refusing changes where it has mseal, and
// saying -1 where it has none (the seam's test below reaches that on any
// kernel).
TEST(Sealing, ThePoolsTablesAndCanaryPageCannotBeUnmappedOrReprotected) {
  const bool sealable = kernel_has_mseal();
  const auto result = secbits::test::run_with_fresh_pool([sealable] {
    if (secbits_set_hardening(3) != 0) return broken("hardening level 3 refused");
    void* small = secbits_malloc(64);
    void* large = secbits_malloc(std::size_t{200} << 10);
    if (small == nullptr || large == nullptr) return broken("allocation failed");
    if (!write_faults(secbits::pool::canary_secret_location())) return broken("the canary secret's page is writable");
    if (!sealable) {
      return secbits_sealed_mappings() == -1 ? 0 : broken("sealed_mappings() is not -1 on a kernel without mseal");
    }
    for (const std::string& problem :
         {refuses_changes(secbits::pool::g_region.slabs, "the slab table"),
          refuses_changes(secbits::pool::canary_secret_location(), "the canary secret's page")}) {
      if (!problem.empty()) return broken(problem);
    }
    // The slab table, the large-block records, the first chunk of thread
    // heaps and the canary secret's page.
    if (secbits_sealed_mappings() < 4) {
      return broken("only " + std::to_string(secbits_sealed_mappings()) + " mappings sealed");
    }
    std::memset(small, 0x5A, 64);
    secbits_free(small);
    secbits_free(large);
    void* again = secbits_malloc(64);
    if (again == nullptr) return broken("the pool stopped working after the checks");
    secbits_free(again);
    return 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(Sealing, WithoutMsealThePoolWorksSaysSoAndAsksOnce) {
  const auto result = secbits::test::run_with_fresh_pool([] {
    secbits::os::testing::inject_failure(secbits::os::Operation::Seal, 1, ENOSYS, true);
    if (secbits_set_hardening(3) != 0) return broken("hardening level 3 refused");
    void* small = secbits_malloc(64);
    void* large = secbits_malloc(std::size_t{200} << 10);
    if (small == nullptr || large == nullptr) return broken("allocation failed without mseal");
    if (secbits_sealed_mappings() != -1 || secbits::sealed_mappings() != -1) {
      return broken("sealed_mappings() is not -1 without mseal");
    }
    if (secbits::os::testing::calls(secbits::os::Operation::Seal) != 1) return broken("mseal was asked again after ENOSYS");
    // Not sealed: the kernel lets the table be reprotected (and back).
    void* table = page_of(secbits::pool::g_region.slabs);
    if (::mprotect(table, kPage, PROT_READ) != 0 || ::mprotect(table, kPage, PROT_READ | PROT_WRITE) != 0) {
      return broken("the slab table refused mprotect though nothing was sealed");
    }
    // The canary secret is still read-only.
    if (!write_faults(secbits::pool::canary_secret_location())) return broken("the canary secret's page is writable");
    secbits_free(small);
    secbits_free(large);
    return 0;
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
