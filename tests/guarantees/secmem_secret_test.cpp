// SecMem and SecBytes on secret memory (PageSource::Secret, memfd_secret):
// what the kernel reports of the pages, who can read them, what a forked
// child sees of them, and what happens when the lock budget is spent or the
// kernel has no secret memory. The cases that need secret memory skip on a
// kernel without it; the ones that imitate such a kernel run everywhere.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "os/injection.hpp"
#include "os/pages.hpp"
#include "os/secret.hpp"
#include "support/child.hpp"
#include "support/lock_budget.hpp"
#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::LockPolicy;
using secbits::PageSource;
using secbits::Protection;
using secbits::test::run_in_child;

const std::size_t kPage = secbits::test::page_size();

// Exit status of a child that found the pool already in use, so that
// set_page_source could not be tried: the binary ran several tests in one
// process (ctest runs each in its own).
constexpr int kPoolInUse = 77;

// The child reports the first broken expectation on stdout and exits with 1.
int fail(const std::string& why) {
  std::cout << "FAILED: " << why << std::endl;
  return 1;
}

// A volatile read the compiler must perform.
int touch(const std::byte* address) { return static_cast<int>(*static_cast<const volatile std::byte*>(address)); }

void expect_killed_by_segv(const secbits::test::ChildResult& result) {
  EXPECT_FALSE(result.exited) << "child exited with " << result.exit_code << ": " << result.output;
  EXPECT_EQ(result.term_signal, SIGSEGV) << result.output;
}

void expect_success(const secbits::test::ChildResult& result) {
  if (result.exited && result.exit_code == kPoolInUse) GTEST_SKIP() << result.output;
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

bool all_equal(const std::byte* data, std::size_t size, std::byte value) {
  return std::all_of(data, data + size, [value](std::byte b) { return b == value; });
}

void fill(secbits::SecMem& memory, std::byte value) {
  memory.protect(Protection::ReadWrite);
  std::fill(memory.data(), memory.data() + memory.capacity(), value);
}

std::string as_string(const secbits::SecReadView& view) {
  return {reinterpret_cast<const char*>(view.data()), view.size()};
}

bool is_secret_mapping(const void* address) {
  const auto mapping = secbits::test::mapping_containing(address);
  return mapping && mapping->is_secret_memory() && mapping->has_flag("lo") && mapping->has_flag("dd");
}

/// What a debugger, or root, reads at `address` through /proc/PID/mem (this
/// process's own); nullopt where the kernel refuses.
std::optional<std::string> read_through_proc_mem(const void* address, std::size_t size) {
  const int fd = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string bytes(size, '\0');
  const ssize_t n = ::pread(fd, bytes.data(), size, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(address)));
  ::close(fd);
  if (n != static_cast<ssize_t>(size)) return std::nullopt;
  return bytes;
}

/// set_page_source in a child; false (after saying why) when the pool of
/// the process it was forked from is in use already.
bool choose_page_source(PageSource source) {
  try {
    secbits::set_page_source(source);
    return true;
  } catch (const secbits::Error& error) {
    if (error.code() != std::errc::device_or_resource_busy) throw;
    std::cout << "the pool was in use before the fork: run this test in a process of its own\n";
    return false;
  }
}

class SecretMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const secbits::os::Status status = secbits::os::probe_secret_memory(); !status.ok()) {
      GTEST_SKIP() << "no secret memory on this kernel: memfd_secret: " << std::strerror(status.error);
    }
  }
};

TEST_F(SecretMemory, SecMemPagesAreSecretmemLockedByTheKernelUndumpableAndKeptFromChildren) {
  secbits::SecMem secret(5 * kPage, LockPolicy::Strict, PageSource::Secret);
  secbits::SecMem anonymous(5 * kPage, LockPolicy::Strict, PageSource::Anonymous);
  EXPECT_TRUE(secret.is_secret());
  EXPECT_TRUE(secret.is_locked());
  EXPECT_EQ(secret.protection(), Protection::NoAccess);
  EXPECT_FALSE(anonymous.is_secret());

  const auto mapping = secbits::test::mapping_containing(secret.data());
  ASSERT_TRUE(mapping.has_value());
  EXPECT_TRUE(mapping->is_secret_memory()) << mapping->path;
  EXPECT_EQ(mapping->start, reinterpret_cast<std::uintptr_t>(secret.data()));
  EXPECT_EQ(mapping->end - mapping->start, secret.capacity());
  EXPECT_EQ(mapping->permissions, "---s");
  EXPECT_TRUE(mapping->has_flag("lo"));
  EXPECT_TRUE(mapping->has_flag("dd"));
  EXPECT_TRUE(mapping->has_flag("dc")) << "not MADV_DONTFORK: a child would share the pages";
  for (const std::byte* guard : {secret.data() - 1, secret.data() + secret.capacity()}) {
    const auto around = secbits::test::mapping_containing(guard);
    ASSERT_TRUE(around.has_value());
    EXPECT_FALSE(around->is_secret_memory());
    EXPECT_EQ(around->permissions, "---p");
  }

  // The anonymous source, for contrast: private memory the process locks.
  const auto plain = secbits::test::mapping_containing(anonymous.data());
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->is_secret_memory()) << plain->path;
  EXPECT_EQ(plain->permissions, "---p");
  EXPECT_TRUE(plain->has_flag("wf"));
}

TEST_F(SecretMemory, OpenPagesCannotBeReadThroughProcPidMemUnlikeAnonymousOnes) {
  secbits::SecMem secret(kPage, LockPolicy::Strict, PageSource::Secret);
  secbits::SecMem anonymous(kPage, LockPolicy::Strict, PageSource::Anonymous);
  for (secbits::SecMem* memory : {&secret, &anonymous}) {
    memory->protect(Protection::ReadWrite);
    std::memcpy(memory->data(), "hidden", 6);
    memory->protect(Protection::ReadOnly);
  }
  EXPECT_EQ(read_through_proc_mem(anonymous.data(), 6), std::optional<std::string>("hidden"));
  EXPECT_EQ(read_through_proc_mem(secret.data(), 6), std::nullopt);
}

TEST_F(SecretMemory, ClosedPagesAndGuardsFaultInAForkedChildOpenOnesDoNot) {
  secbits::SecMem memory(2 * kPage, LockPolicy::Strict, PageSource::Secret);
  fill(memory, std::byte{'s'});
  memory.protect(Protection::NoAccess);
  expect_killed_by_segv(run_in_child([&] { return touch(memory.data()); }));
  expect_killed_by_segv(run_in_child([&] { return touch(memory.data() - 1); }));
  expect_killed_by_segv(run_in_child([&] { return touch(memory.data() + memory.capacity()); }));

  memory.protect(Protection::ReadOnly);
  expect_killed_by_segv(run_in_child([&] {
    *static_cast<volatile std::byte*>(memory.data()) = std::byte{0};
    return 0;
  }));
  // The faults are the protection's, not a hole: open, the child reads (zeros).
  const auto readable = run_in_child([&] { return touch(memory.data() + memory.capacity() - 1); });
  ASSERT_TRUE(readable.exited) << "killed by signal " << readable.term_signal << readable.output;
  EXPECT_EQ(readable.exit_code, 0) << readable.output;
}

TEST_F(SecretMemory, PagesAreWipedBeforeTheyAreUnmapped) {
  static std::vector<std::size_t>* nonzero_at_release = nullptr;
  std::vector<std::size_t> log;
  nonzero_at_release = &log;
  secbits::os::testing::set_release_observer([](const std::byte* usable, std::size_t size) {
    if (nonzero_at_release != nullptr) {
      nonzero_at_release->push_back(static_cast<std::size_t>(
          std::count_if(usable, usable + size, [](std::byte b) { return b != std::byte{0}; })));
    }
  });
  const std::byte* data = nullptr;
  {
    secbits::SecMem memory(3 * kPage, LockPolicy::Strict, PageSource::Secret);
    ASSERT_TRUE(memory.is_secret());
    data = memory.data();
    fill(memory, std::byte{0x5A});
    memory.protect(Protection::NoAccess);
  }
  {
    secbits::SecBytes buffer(0, LockPolicy::Strict, PageSource::Secret);
    for (std::size_t size = 1000; size < 300000; size *= 3) {
      std::string piece(size, 'g');
      buffer.append(piece);
    }
  }
  secbits::os::testing::set_release_observer(nullptr);
  nonzero_at_release = nullptr;

  ASSERT_GE(log.size(), 4u) << "the SecMem and the regions growth left behind";
  for (std::size_t nonzero : log) EXPECT_EQ(nonzero, 0u);
  const auto after = secbits::test::mapping_containing(data);
  EXPECT_FALSE(after && after->is_secret_memory()) << "the secret memory is still mapped";
}

// A two-way check across fork(): neither process sees what the other writes
// after it, and the child starts from zeros, as with MADV_WIPEONFORK.
TEST_F(SecretMemory, AForkedChildSeesZerosAndNeitherSeesTheOthersWrites) {
  secbits::SecMem memory(2 * kPage, LockPolicy::Strict, PageSource::Secret);
  fill(memory, std::byte{'P'});  // left ReadWrite across the fork
  int to_child[2];
  int to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    char byte = 0;
    int code = 0;
    if (!is_secret_mapping(memory.data())) code = 10;  // fresh secret memory of its own
    else if (!all_equal(memory.data(), memory.capacity(), std::byte{0})) code = 11;
    std::fill(memory.data(), memory.data() + memory.capacity(), std::byte{'C'});
    if (::write(to_parent[1], "c", 1) != 1 || ::read(to_child[0], &byte, 1) != 1) ::_exit(12);
    if (code == 0 && !all_equal(memory.data(), memory.capacity(), std::byte{'C'})) code = 13;
    const std::byte* data = memory.data();
    {
      // The child's SecMem works as any: protect, wipe, unmap.
      secbits::SecMem mine(std::move(memory));
      mine.protect(Protection::NoAccess);
    }
    const auto after = secbits::test::mapping_containing(data);
    if (code == 0 && after && after->is_secret_memory()) code = 14;
    ::_exit(code);
  }
  // Only the child holds these ends now: if it dies, the reads below see
  // end of file rather than wait for ever.
  ::close(to_child[0]);
  ::close(to_parent[1]);
  char byte = 0;
  const bool child_wrote = ::read(to_parent[0], &byte, 1) == 1;
  EXPECT_TRUE(all_equal(memory.data(), memory.capacity(), std::byte{'P'})) << "the child's writes reached the parent";
  std::fill(memory.data(), memory.data() + memory.capacity(), std::byte{'Q'});
  // SIGPIPE here if the child has died: ignored, the status below says why.
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  (void)!::write(to_child[1], "p", 1);
  std::signal(SIGPIPE, previous);
  ::close(to_child[1]);
  ::close(to_parent[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(child_wrote);
  ASSERT_TRUE(WIFEXITED(status)) << "the child was killed by signal " << WTERMSIG(status);
  EXPECT_NE(WEXITSTATUS(status), 10) << "the child's region is not secret memory";
  EXPECT_NE(WEXITSTATUS(status), 11) << "the child saw the parent's secret";
  EXPECT_NE(WEXITSTATUS(status), 13) << "the parent's writes after fork reached the child";
  EXPECT_NE(WEXITSTATUS(status), 14) << "the child's SecMem was not unmapped";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(is_secret_mapping(memory.data()));
}

TEST_F(SecretMemory, AChildsOwnChildSeesZerosToo) {
  secbits::SecMem memory(kPage, LockPolicy::Strict, PageSource::Secret);
  fill(memory, std::byte{'P'});
  expect_success(run_in_child([&] {
    std::fill(memory.data(), memory.data() + memory.capacity(), std::byte{'C'});
    const auto grandchild = run_in_child([&] {
      if (!is_secret_mapping(memory.data())) return 2;
      return all_equal(memory.data(), memory.capacity(), std::byte{0}) ? 0 : 3;
    });
    if (!grandchild.exited || grandchild.exit_code != 0) return fail("grandchild: " + grandchild.output);
    return all_equal(memory.data(), memory.capacity(), std::byte{'C'}) ? 0 : fail("the grandchild wrote here");
  }));
  EXPECT_TRUE(all_equal(memory.data(), memory.capacity(), std::byte{'P'}));
}

/// How a child made by a raw clone(), which runs no fork handler (as
/// _Fork() or a sandbox's own clone would), fares reading `address`: its exit
/// status is the byte it read, or it is killed by the fault.
int raw_clone_reads(const std::byte* address) {
  const long pid = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    std::signal(SIGSEGV, SIG_DFL);  // not a sanitizer's report: the signal itself
    ::_exit(touch(address));
  }
  int status = 0;
  if (pid < 0 || ::waitpid(static_cast<pid_t>(pid), &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

// MADV_DONTFORK: a child that no handler renews gets a hole, never the
// parent's shared pages; so does a child's child, whose pages were renewed.
TEST_F(SecretMemory, AChildTheHandlersMissGetsAHoleNotTheSharedPages) {
  secbits::SecMem memory(kPage, LockPolicy::Strict, PageSource::Secret);
  fill(memory, std::byte{'P'});
  EXPECT_EQ(raw_clone_reads(memory.data()), -SIGSEGV);
  expect_success(run_in_child([&] {
    std::fill(memory.data(), memory.data() + memory.capacity(), std::byte{'C'});
    const int read = raw_clone_reads(memory.data());
    return read == -SIGSEGV ? 0 : fail("a raw clone of the child read " + std::to_string(read));
  }));
}

TEST_F(SecretMemory, AChildThatGetsNoSecretMemoryFaultsThereAndCanStillReleaseIt) {
  const auto result = run_in_child([] {
    secbits::SecMem memory(kPage, LockPolicy::Strict, PageSource::Secret);
    fill(memory, std::byte{'P'});
    // Every later memfd_secret of this process and its children fails.
    secbits::os::testing::inject_failure(secbits::os::Operation::Secret, 1, ENOMEM, true);
    const auto reader = run_in_child([&] { return touch(memory.data()); });
    if (reader.exited || reader.term_signal != SIGSEGV) return fail("the child read: " + reader.output);
    const auto releaser = run_in_child([&] {
      secbits::SecMem mine(std::move(memory));
      return 0;
    });
    if (!releaser.exited || releaser.exit_code != 0) return fail("the child could not release: " + releaser.output);
    return all_equal(memory.data(), memory.capacity(), std::byte{'P'}) ? 0 : fail("the parent's bytes changed");
  });
  expect_success(result);
  // Said by the fork handler, before the child redirected its output.
  EXPECT_NE(result.output.find("secbits: a forked child got no secret memory for the SecMem at 0x"), std::string::npos)
      << result.output;
}

TEST_F(SecretMemory, SecBytesViewsAndGrowthStayOnSecretMemory) {
  secbits::SecBytes buffer(0, LockPolicy::Strict, PageSource::Secret);
  EXPECT_FALSE(buffer.is_secret());  // no pages yet; the source is remembered
  std::string text = "first part";
  buffer.append(text);
  EXPECT_TRUE(buffer.is_secret());
  const std::size_t first_capacity = buffer.capacity();
  const std::byte* saved = nullptr;
  {
    auto view = buffer.read();
    EXPECT_EQ(as_string(view), "first part");
    const auto mapping = secbits::test::mapping_containing(view.data());
    ASSERT_TRUE(mapping.has_value());
    EXPECT_TRUE(mapping->is_secret_memory());
    EXPECT_EQ(mapping->permissions, "r--s");
  }
  {
    auto view = buffer.write();
    view.as_span()[0] = std::byte{'F'};
    saved = view.data();
  }
  expect_killed_by_segv(run_in_child([&] { return touch(saved); }));

  std::string more(3 * first_capacity, 'x');
  buffer.append(more);
  EXPECT_GT(buffer.capacity(), first_capacity);
  EXPECT_TRUE(buffer.is_secret());
  auto view = buffer.read();
  EXPECT_EQ(as_string(view), "First part" + std::string(3 * first_capacity, 'x'));
  EXPECT_TRUE(is_secret_mapping(view.data()));

  // Without a source, SecBytes takes the process default: anonymous here.
  secbits::SecBytes plain;
  std::string other = "plain";
  plain.append(other);
  EXPECT_FALSE(plain.is_secret());
  EXPECT_FALSE(is_secret_mapping(plain.read().data()));
}

TEST_F(SecretMemory, WithoutASourceSecMemAndSecBytesFollowThePoolsChoice) {
  expect_success(run_in_child([] {
    if (secbits::SecMem(kPage).is_secret()) return fail("the default source is not anonymous");
    for (PageSource source : {PageSource::Auto, PageSource::Secret}) {
      if (!choose_page_source(source)) return kPoolInUse;
      secbits::SecMem memory(kPage);
      if (!memory.is_secret() || !is_secret_mapping(memory.data())) return fail("SecMem did not follow the pool");
      secbits::SecBytes buffer;
      std::string text = "follows";
      buffer.append(text);
      if (!buffer.is_secret()) return fail("SecBytes did not follow the pool");
    }
    if (!choose_page_source(PageSource::Anonymous)) return kPoolInUse;
    return secbits::SecMem(kPage).is_secret() ? fail("SecMem stayed on secret memory") : 0;
  }));
}

// Secret memory is charged to RLIMIT_MEMLOCK when it is mapped.
TEST_F(SecretMemory, OverTheLockBudgetStrictThrowsAndDegradeFallsBackToUnlockedAnonymousMemory) {
  constexpr std::size_t kBudget = 16 * 1024;
  const auto result = run_in_child([] {
    if (!secbits::test::drop_lock_privilege(kBudget)) return fail("cannot drop CAP_IPC_LOCK");
    try {
      secbits::SecMem memory(64 * 1024, LockPolicy::Strict, PageSource::Secret);
      return fail("Strict served memory over the budget");
    } catch (const secbits::Error& error) {
      std::cout << error.what() << std::endl;
    }
    secbits::SecMem small(kPage, LockPolicy::Degrade, PageSource::Secret);  // fits the budget
    if (!small.is_secret() || !small.is_locked()) return fail("a region within the budget is not secret");
    secbits::SecMem first(64 * 1024, LockPolicy::Degrade, PageSource::Secret);
    secbits::SecMem second(64 * 1024, LockPolicy::Degrade, PageSource::Secret);
    for (secbits::SecMem* memory : {&first, &second}) {
      if (memory->is_secret() || memory->is_locked()) return fail("Degrade claims a secret or locked region");
      const auto mapping = secbits::test::mapping_containing(memory->data());
      if (!mapping || mapping->is_secret_memory() || mapping->has_flag("lo") || !mapping->has_flag("dd") ||
          !mapping->has_flag("wf")) {
        return fail("the fallback is not unlocked, undumpable, wiped-on-fork anonymous memory");
      }
    }
    fill(first, std::byte{'d'});
    if (!all_equal(first.data(), first.capacity(), std::byte{'d'})) return fail("the fallback is not usable");
    secbits::SecBytes buffer(64 * 1024, LockPolicy::Degrade, PageSource::Secret);
    return buffer.is_secret() || buffer.is_locked() ? fail("SecBytes over the budget") : 0;
  });
  expect_success(result);
  EXPECT_EQ(result.output,
            "SecMem of 65536 bytes of secret memory: mmap of secret memory failed: Resource temporarily unavailable "
            "(RLIMIT_MEMLOCK is 16384 bytes and secret memory is charged to it; raise it or grant CAP_IPC_LOCK)\n"
            "secbits: mmap of secret memory of 65536 bytes failed (Resource temporarily unavailable; RLIMIT_MEMLOCK "
            "is 16384 bytes); lock policy is degrade: continuing with memory that is not locked (still excluded "
            "from core dumps and wiped); further occurrences are not reported\n");
}

// A kernel without secret memory (before 5.14, or with it disabled), through
// the OS layer's seam: runs on every kernel.
TEST(SecretMemoryMissing, SecretThrowsNamingMemfdSecretAndAutoFallsBackToAnonymousMemory) {
  const auto result = run_in_child([] {
    secbits::os::testing::inject_failure(secbits::os::Operation::Secret, 1, ENOSYS, true);
    for (LockPolicy policy : {LockPolicy::Strict, LockPolicy::Degrade}) {
      try {
        secbits::SecMem memory(kPage, policy, PageSource::Secret);
        return fail("PageSource::Secret served memory without memfd_secret");
      } catch (const secbits::Error& error) {
        if (error.code().value() != ENOSYS) return fail(std::string("not ENOSYS: ") + error.what());
        if (policy == LockPolicy::Strict) std::cout << error.what() << std::endl;
      }
    }
    try {
      secbits::SecBytes buffer(kPage, LockPolicy::Strict, PageSource::Secret);
      return fail("SecBytes served memory without memfd_secret");
    } catch (const secbits::Error&) {
    }
    if (!choose_page_source(PageSource::Auto)) return kPoolInUse;
    secbits::SecMem memory(kPage);
    const auto mapping = secbits::test::mapping_containing(memory.data());
    if (memory.is_secret() || !memory.is_locked() || !mapping || mapping->is_secret_memory() ||
        !mapping->has_flag("lo") || !mapping->has_flag("wf")) {
      return fail("Auto did not fall back to locked, wiped-on-fork anonymous memory");
    }
    secbits::SecBytes buffer;
    std::string text = "falls back";
    buffer.append(text);
    return buffer.is_secret() ? fail("SecBytes claims secret memory") : 0;
  });
  expect_success(result);
  EXPECT_EQ(result.output, "SecMem of " + std::to_string(kPage) +
                               " bytes of secret memory: memfd_secret failed: Function not implemented (the kernel "
                               "lacks memfd_secret or has it disabled; PageSource::Auto falls back to anonymous "
                               "memory)\n");
}

}  // namespace
