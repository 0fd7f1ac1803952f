// The sweep: every public path of the pool driven through every kernel
// operation the OS layer makes, each failing in turn. A clean run of a
// scenario first counts how many calls of each operation it makes; then
// call 1, 2, ... N of that operation fails (alone, or with every later call
// too), each in a fresh child, and the child checks:
//  - every failure the caller sees is the one the README promises: null with
//    errno ENOMEM, std::bad_alloc, or secbits::Error; and the only aborts are
//    the documented ones (a SecMem/SecBytes region that cannot be closed
//    again: then no secret may stay open, so the process stops);
//  - no secret is left readable: each block is checked right after its free;
//  - once the failures stop, the pool serves every kind of block again;
//  - the statistics add up, and every resident page of the pool is locked
//    (strict) and excluded from core dumps.
#include <secbits/allocator.hpp>
#include <secbits/error.hpp>
#include <secbits/memory_resource.hpp>
#include <secbits/pool.hpp>
#include <secbits/secbits.h>
#include <secbits/secbytes.hpp>
#include <secbits/secmem.hpp>
#include <secbits/secure_new.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <memory_resource>
#include <new>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "injection/fresh_pool.hpp"
#include "os/injection.hpp"
#include "support/probe.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::os::Operation;
using secbits::test::broken;

constexpr unsigned char kSecret = 0xA5;
/// Calls of one operation swept one by one; past that, a sample. Bounds the
/// whole sweep to a few thousand children.
constexpr std::size_t kSweptCallsPerOperation = 24;

const char* name_of(Operation operation) {
  static constexpr const char* kNames[] = {"reserve", "map-bookkeeping", "map-guarded", "return-to-reservation",
                                           "mprotect", "madvise", "mlock", "mlock2", "memfd-secret", "mseal"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(Operation::Count));
  return kNames[static_cast<unsigned>(operation)];
}

/// What the scenario saw: the first broken promise, if any.
struct Tracker {
  std::string broken;
  std::size_t failures = 0;  // allocations that failed cleanly

  void fail(const std::string& why) {
    if (broken.empty()) broken = why;
  }

  /// A C allocation's result: a block, or null with ENOMEM.
  bool served(void* block, int error, const char* what) {
    if (block != nullptr) return true;
    if (error != ENOMEM) fail(std::string(what) + " failed with errno " + std::to_string(error) + ", not ENOMEM");
    ++failures;
    return false;
  }

  void expect_zero(const void* block, std::size_t size, const char* what) {
    const auto* bytes = static_cast<const unsigned char*>(block);
    for (std::size_t i = 0; i < size; ++i) {
      if (bytes[i] != 0) return fail(std::string(what) + " handed out a block that is not zero");
    }
  }

  /// Every live block lies in a mapping that is excluded from core dumps and,
  /// under the strict policy, locked.
  void expect_protected(const std::vector<std::pair<void*, std::size_t>>& live) {
    const auto mappings = secbits::test::all_mappings();
    for (auto [block, size] : live) {
      const auto* mapping = secbits::test::find_mapping(mappings, block);
      if (mapping == nullptr || !mapping->has_flag("dd")) return fail("a live block would be written to a core dump");
      if (!mapping->has_flag("lo")) return fail("a live block is not locked under the strict policy");
    }
  }

  /// Writes the secret, frees the block, and checks nothing of it is left.
  void fill(void* block, std::size_t size) { std::memset(block, kSecret, size); }
  void free_and_check(void* block, std::size_t size) {
    secbits_free(block);
    if (!secbits::test::observe_memory(block, size).wiped_or_inaccessible()) {
      fail("a freed block of " + std::to_string(size) + " bytes can be read back");
    }
  }
};

template <class Body>
void expect_cpp_failure_or_success(Tracker& tracker, Body body) {
  try {
    body();
  } catch (const std::bad_alloc&) {
    ++tracker.failures;
  } catch (const secbits::Error&) {
    ++tracker.failures;
  } catch (const std::exception& error) {
    tracker.fail(std::string("an undocumented exception: ") + error.what());
  }
}

// ------------------------------------------------------------- scenarios

void c_small(Tracker& t) {
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t size : {16, 48, 1024, 4000, 16384}) {
    for (int i = 0; i < 40; ++i) {
      errno = 0;
      void* block = i % 2 == 0 ? secbits_malloc(size) : secbits_calloc(1, size);
      if (!t.served(block, errno, "secbits_malloc/calloc")) continue;
      t.expect_zero(block, size, "secbits_malloc/calloc");
      t.fill(block, size);
      live.emplace_back(block, size);
    }
    errno = 0;
    void* aligned = secbits_aligned_alloc(64, size);
    if (t.served(aligned, errno, "secbits_aligned_alloc")) {
      if (reinterpret_cast<std::uintptr_t>(aligned) % 64 != 0) t.fail("misaligned block");
      t.fill(aligned, size);
      live.emplace_back(aligned, size);
    }
  }
  // realloc both ways, and within a class.
  for (std::size_t i = 0; i < live.size(); i += 7) {
    const std::size_t target = live[i].second < 1024 ? 3000 : 24;
    errno = 0;
    void* moved = secbits_realloc(live[i].first, target);
    if (!t.served(moved, errno, "secbits_realloc")) continue;  // the old block is still live and whole
    auto* bytes = static_cast<unsigned char*>(moved);
    if (bytes[0] != kSecret || bytes[std::min(target, live[i].second) - 1] != kSecret) t.fail("realloc lost data");
    t.fill(moved, target);
    live[i] = {moved, target};
  }
  t.expect_protected(live);
  for (auto [block, size] : live) t.free_and_check(block, size);
  secbits_collect();
}

void c_large(Tracker& t) {
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t size : {std::size_t{20} << 10, std::size_t{64} << 10, std::size_t{200} << 10, (std::size_t{1} << 20) + 1}) {
    errno = 0;
    void* block = secbits_malloc(size);
    if (!t.served(block, errno, "secbits_malloc (large)")) continue;
    t.expect_zero(block, size, "secbits_malloc (large)");
    t.fill(block, size);
    live.emplace_back(block, size);
  }
  for (std::size_t alignment : {std::size_t{64} << 10, std::size_t{1} << 20}) {
    errno = 0;
    void* block = secbits_aligned_alloc(alignment, 3 * alignment);
    if (!t.served(block, errno, "secbits_aligned_alloc (large)")) continue;
    if (reinterpret_cast<std::uintptr_t>(block) % alignment != 0) t.fail("misaligned large block");
    t.fill(block, 3 * alignment);
    live.emplace_back(block, 3 * alignment);
  }
  // Grow in place, shrink in place, move, and move down to a small block.
  const std::size_t targets[] = {std::size_t{100} << 10, std::size_t{30} << 10, std::size_t{6} << 20, 500};
  for (std::size_t i = 0; i < live.size() && i < std::size(targets); ++i) {
    errno = 0;
    void* moved = secbits_realloc(live[i].first, targets[i]);
    if (!t.served(moved, errno, "secbits_realloc (large)")) continue;
    const auto* bytes = static_cast<const unsigned char*>(moved);
    if (bytes[std::min(targets[i], live[i].second) - 1] != kSecret) t.fail("realloc (large) lost data");
    t.fill(moved, targets[i]);
    live[i] = {moved, targets[i]};
  }
  t.expect_protected(live);
  for (auto [block, size] : live) t.free_and_check(block, size);
}

/// More freed spans than the pool keeps for reuse (32): some go back to the
/// reservation, and the next round commits those pages again.
void spans_beyond_the_cache(Tracker& t) {
  for (int round = 0; round < 2; ++round) {
    std::vector<std::pair<void*, std::size_t>> many;
    for (int i = 0; i < 36; ++i) {
      errno = 0;
      void* block = secbits_malloc(std::size_t{1} << 20);
      if (!t.served(block, errno, "secbits_malloc (1 MiB)")) continue;
      t.fill(block, std::size_t{1} << 20);
      many.emplace_back(block, std::size_t{1} << 20);
    }
    t.expect_protected(many);
    for (auto [block, size] : many) t.free_and_check(block, size);
  }
}

void cxx(Tracker& t) {
  expect_cpp_failure_or_success(t, [] {
    auto key = secbits::make_secure_unique<std::array<unsigned char, 64>>();
    key->fill(kSecret);
    auto buffer = secbits::make_secure_unique<unsigned char[]>(50000);
    std::memset(buffer.get(), kSecret, 50000);
  });
  expect_cpp_failure_or_success(t, [] {
    secbits::secure_vector<int> numbers;
    for (int i = 0; i < 100000; ++i) numbers.push_back(i);
    secbits::secure_string text(3000, 's');
    text += text;
  });
  expect_cpp_failure_or_success(t, [&t] {
    std::pmr::memory_resource* resource = secbits::secure_memory_resource();
    void* small = resource->allocate(300, 64);
    void* large = nullptr;
    try {
      large = resource->allocate(std::size_t{1} << 20, std::size_t{1} << 16);
    } catch (...) {
      resource->deallocate(small, 300, 64);
      throw;
    }
    if (reinterpret_cast<std::uintptr_t>(large) % (std::size_t{1} << 16) != 0) t.fail("pmr misaligned");
    resource->deallocate(large, std::size_t{1} << 20, std::size_t{1} << 16);
    resource->deallocate(small, 300, 64);
  });
}

void regions(Tracker& t) {
  expect_cpp_failure_or_success(t, [] {
    secbits::SecMem memory(5000);
    memory.protect(secbits::Protection::ReadWrite);
    std::memset(memory.data(), kSecret, memory.capacity());
    memory.protect(secbits::Protection::ReadOnly);
    memory.protect(secbits::Protection::NoAccess);
  });
  expect_cpp_failure_or_success(t, [&t] {
    secbits::SecBytes bytes;
    std::string model;
    for (int i = 0; i < 40; ++i) {
      std::string piece(700, static_cast<char>('a' + i % 26));
      model += piece;
      bytes.append(piece);
    }
    {
      const secbits::SecReadView view = bytes.read();
      if (view.size() != model.size() || std::memcmp(view.data(), model.data(), model.size()) != 0) {
        t.fail("SecBytes content differs from what was appended");
      }
    }
    {
      secbits::SecWriteView view = bytes.write();
      view.data()[0] = std::byte{0x42};
    }
  });
}

void fork_child(Tracker& t) {
  std::vector<void*> blocks;
  for (std::size_t size : {std::size_t{64}, std::size_t{5000}, std::size_t{100} << 10}) {
    errno = 0;
    void* block = secbits_malloc(size);
    if (!t.served(block, errno, "secbits_malloc before fork")) continue;
    std::memset(block, kSecret, size);
    blocks.push_back(block);
  }
  const pid_t pid = ::fork();
  if (pid < 0) return t.fail("fork failed");
  if (pid == 0) {
    // The grandchild reads, writes and frees what it inherited, and allocates.
    // Secret pages reach a library's child zero-filled, never shared.
    const unsigned char inherited = secbits_get_page_source() == SECBITS_SOURCE_SECRET ? 0 : kSecret;
    for (void* block : blocks) {
      if (*static_cast<unsigned char*>(block) != inherited) ::_exit(2);
      *static_cast<unsigned char*>(block) = 1;
      secbits_free(block);
    }
    void* fresh = secbits_malloc(3000);
    if (fresh != nullptr) secbits_free(fresh);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) t.fail("the forked child could not use what it inherited");
  for (void* block : blocks) secbits_free(block);
}

struct Scenario {
  const char* name;
  void (*run)(Tracker&);
};
constexpr Scenario kScenarios[] = {
    {"C small blocks", c_small}, {"C large blocks", c_large}, {"freed spans beyond the cache", spans_beyond_the_cache},
    {"C++ and pmr", cxx},
    {"SecMem and SecBytes", regions}, {"fork", fork_child}};

// ------------------------------------------------------------- checks

/// The pool serves every kind of block again, and keeps its promises.
std::string check_recovered_and_consistent() {
  secbits::os::testing::reset();
  Tracker again;
  c_small(again);
  c_large(again);
  if (!again.broken.empty()) return "after the failures stopped: " + again.broken;
  if (again.failures != 0) return "after the failures stopped, " + std::to_string(again.failures) + " allocations failed";
  secbits_collect();
  const secbits::PoolStats stats = secbits::stats();
  if (stats.bytes_in_use != 0) return "bytes_in_use is " + std::to_string(stats.bytes_in_use) + " with nothing live";
  if (stats.large_blocks != 0) return "large_blocks is " + std::to_string(stats.large_blocks) + " with nothing live";
  if (stats.bytes_committed != stats.bytes_locked + stats.bytes_unlocked) return "committed != locked + unlocked";
  if (stats.bytes_unlocked != 0) return "the strict policy left unlocked bytes";
  for (const auto& mapping : secbits::test::all_mappings()) {
    if (!secbits_owns(reinterpret_cast<const void*>(mapping.start)) || mapping.rss_kb == 0) continue;
    if (!mapping.has_flag("dd") || !mapping.has_flag("lo") || mapping.locked_kb != mapping.rss_kb) {
      return "a resident pool mapping is not locked and undumpable";
    }
  }
  return {};
}

/// In the child, before the pool exists: the page source of the sweep.
bool use_source(secbits::PageSource source) {
  if (source == secbits::PageSource::Anonymous) return true;
  return secbits_set_page_source(SECBITS_SOURCE_SECRET) == 0;
}

/// Calls of each operation that one clean run of `scenario` makes on a new
/// pool, as the child reports them on stdout.
std::map<Operation, std::size_t> count_calls(const Scenario& scenario, secbits::PageSource source) {
  const auto result = secbits::test::run_with_fresh_pool([&scenario, source] {
    if (!use_source(source)) return broken("secret memory refused");
    secbits::os::testing::start_counting();
    Tracker tracker;
    scenario.run(tracker);
    if (!tracker.broken.empty() || tracker.failures != 0) return broken("a clean run failed: " + tracker.broken);
    for (unsigned op = 0; op < static_cast<unsigned>(Operation::Count); ++op) {
      std::cout << secbits::os::testing::calls(static_cast<Operation>(op)) << "\n";
    }
    return 0;
  });
  std::map<Operation, std::size_t> counts;
  EXPECT_TRUE(result.exited && result.exit_code == 0) << scenario.name << ": " << result.output;
  std::istringstream in(result.output);
  for (unsigned op = 0; op < static_cast<unsigned>(Operation::Count); ++op) in >> counts[static_cast<Operation>(op)];
  return counts;
}

/// The abort lines the README documents for an injected failure.
bool documented_abort(const std::string& output) {
  for (const char* line : {"secbits: cannot return a secret region to NoAccess",
                           "secbits: cannot change the protection of a secret region",
                           "secbits: cannot open a secret region to wipe it"}) {
    if (output.find(line) != std::string::npos) return true;
  }
  return false;
}

struct Totals {
  std::size_t points = 0;      // (scenario, operation, call) triples
  std::size_t children = 0;    // processes run
  std::size_t clean_failures = 0;
  std::size_t documented_aborts = 0;
};

void sweep(Operation operation, int error, secbits::PageSource source, Totals& totals) {
  for (const Scenario& scenario : kScenarios) {
    const std::size_t calls = count_calls(scenario, source)[operation];
    for (std::size_t nth = 1; nth <= calls; ++nth) {
      if (nth > kSweptCallsPerOperation && nth != calls && nth % 16 != 0) continue;
      ++totals.points;
      for (bool and_after : {false, true}) {
        ++totals.children;
        const auto result = secbits::test::run_with_fresh_pool([&] {
          if (!use_source(source)) return broken("secret memory refused");
          secbits::os::testing::inject_failure(operation, static_cast<unsigned>(nth), error, and_after);
          Tracker tracker;
          scenario.run(tracker);
          if (!tracker.broken.empty()) return broken(tracker.broken);
          if (const std::string problem = check_recovered_and_consistent(); !problem.empty()) return broken(problem);
          std::cout << "failures " << tracker.failures << std::endl;
          return 0;
        });
        const std::string where = std::string(scenario.name) + ": " + name_of(operation) + " call " +
                                  std::to_string(nth) + (and_after ? " and every later one" : "") + " fails with " +
                                  std::strerror(error);
        if (!result.exited && result.term_signal == SIGABRT && documented_abort(result.output)) {
          ++totals.documented_aborts;
          continue;
        }
        ASSERT_TRUE(result.exited) << where << ": killed by signal " << result.term_signal << "\n" << result.output;
        ASSERT_EQ(result.exit_code, 0) << where << "\n" << result.output;
        if (result.output.find("failures 0") == std::string::npos) ++totals.clean_failures;
      }
    }
  }
}

void report(const char* what, const Totals& totals) {
  std::cout << "[ sweep    ] " << what << ": " << totals.points << " injection points, " << totals.children
            << " children; " << totals.clean_failures << " saw a clean failure, " << totals.documented_aborts
            << " stopped with a documented abort" << std::endl;
}

class FaultSweep : public ::testing::TestWithParam<std::pair<Operation, int>> {};

TEST_P(FaultSweep, EveryPathFailsCleanlyLeavesNoSecretAndRecovers) {
  const auto [operation, error] = GetParam();
  Totals totals;
  sweep(operation, error, secbits::PageSource::Anonymous, totals);
  report(name_of(operation), totals);
  EXPECT_GT(totals.points, 0u) << "no scenario reached " << name_of(operation);
}

std::string parameter_name(const ::testing::TestParamInfo<std::pair<Operation, int>>& info) {
  std::string name = name_of(info.param.first);
  for (char& c : name) if (c == '-') c = '_';
  const int error = info.param.second;
  return name + "_" +
         (error == ENOMEM ? "ENOMEM" : error == EPERM ? "EPERM" : error == ENOSYS ? "ENOSYS" : error == EAGAIN ? "EAGAIN" : "EINVAL");
}

/// The same sweep with the pool's pages in secret memory (memfd_secret):
/// each commit maps a file of its own, so the secret source has its own
/// failure points (the file, its mapping refused over RLIMIT_MEMLOCK).
class SecretSourceFaultSweep : public ::testing::TestWithParam<std::pair<Operation, int>> {};

TEST_P(SecretSourceFaultSweep, EveryPathFailsCleanlyLeavesNoSecretAndRecovers) {
  if (secbits::test::run_with_fresh_pool([] { return secbits_set_page_source(SECBITS_SOURCE_SECRET) == 0 ? 0 : 1; })
          .exit_code != 0) {
    GTEST_SKIP() << "this kernel has no secret memory (memfd_secret)";
  }
  const auto [operation, error] = GetParam();
  Totals totals;
  sweep(operation, error, secbits::PageSource::Secret, totals);
  report(name_of(operation), totals);
  EXPECT_GT(totals.points, 0u) << "no scenario reached " << name_of(operation);
}

INSTANTIATE_TEST_SUITE_P(
    SecretSource, SecretSourceFaultSweep,
    ::testing::Values(std::pair{Operation::Reserve, ENOMEM}, std::pair{Operation::MapBookkeeping, ENOMEM},
                      std::pair{Operation::Return, ENOMEM}, std::pair{Operation::Protect, ENOMEM},
                      std::pair{Operation::Advise, EINVAL}, std::pair{Operation::Secret, ENOSYS},
                      std::pair{Operation::Secret, EAGAIN}, std::pair{Operation::Secret, ENOMEM}),
    parameter_name);

INSTANTIATE_TEST_SUITE_P(
    Operations, FaultSweep,
    ::testing::Values(std::pair{Operation::Reserve, ENOMEM}, std::pair{Operation::MapBookkeeping, ENOMEM},
                      std::pair{Operation::MapGuarded, ENOMEM}, std::pair{Operation::Return, ENOMEM},
                      std::pair{Operation::Protect, ENOMEM}, std::pair{Operation::Advise, EINVAL},
                      std::pair{Operation::Lock, ENOMEM}, std::pair{Operation::Lock, EPERM},
                      std::pair{Operation::LockOnFault, ENOMEM}, std::pair{Operation::LockOnFault, EPERM},
                      std::pair{Operation::LockOnFault, ENOSYS}),
    parameter_name);

}  // namespace
