// A kernel without mlock2 (before 4.4, or valgrind, which does not know the
// syscall) answers ENOSYS. The pool locks on touch where it can; where it
// cannot, it must lock the ordinary way, not fail every allocation.
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::broken;

/// The block lies in a locked, undumpable mapping whose resident pages are
/// all locked.
std::string check_locked(const void* block, const char* what) {
  const auto mapping = secbits::test::mapping_containing(block);
  if (!mapping || !mapping->has_flag("lo") || !mapping->has_flag("dd") || mapping->locked_kb != mapping->rss_kb) {
    return std::string(what) + " is not in a locked, undumpable mapping";
  }
  return {};
}

TEST(MissingSyscall, WithoutMlock2ThePoolLocksTheOrdinaryWay) {
  const auto result = secbits::test::run_with_fresh_pool([] {
    secbits::os::testing::inject_failure(secbits::os::Operation::LockOnFault, 1, ENOSYS, true);
    void* small = secbits_malloc(64);
    void* large = secbits_malloc(std::size_t{200} << 10);
    if (small == nullptr || large == nullptr) return broken("allocation failed without mlock2");
    std::memset(small, 0x5A, 64);
    std::memset(large, 0x5A, std::size_t{200} << 10);
    for (const std::string& problem : {check_locked(small, "a small block"), check_locked(large, "a large block")}) {
      if (!problem.empty()) return broken(problem);
    }
    // A forked child relocks the same way, on its first call into the pool.
    const pid_t child = ::fork();
    if (child == 0) {
      secbits_free(secbits_malloc(16));
      ::_exit(check_locked(small, "the child's small block").empty() ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return broken("the child's pool is not locked");
    secbits_free(small);
    secbits_free(large);
    return secbits::os::testing::calls(secbits::os::Operation::LockOnFault) == 1
               ? 0
               : broken("mlock2 was tried again after ENOSYS");
  });
  ASSERT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
