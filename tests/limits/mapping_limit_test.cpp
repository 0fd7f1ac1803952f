// vm.max_map_count is shared by the program and the pool. With the limit
// lowered (the test restores it, whatever happens), the pool must stay
// within its budget (half the limit) and fail its own allocation with ENOMEM
// at the budget: the program's next mmap and thread must still succeed.
// These tests change a system-wide setting: CTest runs them alone.
#include <secbits/pool.hpp>
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <vector>

#include "injection/fresh_pool.hpp"
#include "support/smaps.hpp"

namespace {

using secbits::test::broken;

constexpr const char* kSetting = "/proc/sys/vm/max_map_count";
constexpr std::size_t kLimit = 3000;

class ScopedMaxMapCount {
 public:
  explicit ScopedMaxMapCount(std::size_t value) {
    std::ifstream(kSetting) >> saved_;
    written_ = write(std::to_string(value));
  }
  ~ScopedMaxMapCount() {
    if (written_) write(saved_);
  }
  bool written() const { return written_; }

 private:
  static bool write(const std::string& value) {
    std::ofstream out(kSetting);
    out << value << "\n";
    out.close();
    return static_cast<bool>(out);
  }
  std::string saved_;
  bool written_ = false;
};

void* start_thread(void*) { return nullptr; }

/// The program's own needs once the pool has taken all it may.
std::string program_still_maps_and_starts_threads() {
  std::vector<void*> own;
  for (int i = 0; i < 50; ++i) {
    // Alternate protections, so that the kernel cannot merge them into one.
    void* mapping = ::mmap(nullptr, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return "the program's mmap " + std::to_string(i + 1) + " of 50 failed: " + std::strerror(errno);
    own.push_back(mapping);
  }
  for (void* mapping : own) ::munmap(mapping, 4096);
  pthread_t thread;
  if (const int error = ::pthread_create(&thread, nullptr, start_thread, nullptr); error != 0) {
    return std::string("pthread_create failed: ") + std::strerror(error);
  }
  ::pthread_join(thread, nullptr);
  return {};
}

template <class Fill>
void expect_pool_stops_at_its_budget(Fill fill) {
  ScopedMaxMapCount limit(kLimit);
  ASSERT_TRUE(limit.written()) << "cannot write " << kSetting << " (run as root)";
  const auto result = secbits::test::run_with_fresh_pool([&fill] {
    std::vector<void*> blocks;
    const int error = fill(blocks);
    if (error != ENOMEM) return broken("the pool did not stop with ENOMEM: errno " + std::to_string(error));
    const std::size_t pool_mappings = secbits::stats().vmas;
    std::cout << "pool mappings at the budget: " << pool_mappings << ", process: " << secbits::test::mapping_count()
              << ", blocks: " << blocks.size() << std::endl;
    if (pool_mappings > kLimit / 2) return broken("the pool took " + std::to_string(pool_mappings) + " mappings");
    if (const std::string problem = program_still_maps_and_starts_threads(); !problem.empty()) return broken(problem);
    for (void* block : blocks) secbits_free(block);
    secbits_collect();
    void* again = secbits_malloc(64 << 10);
    if (again == nullptr) return broken("nothing served after every block was freed");
    secbits_free(again);
    return 0;
  });
  ASSERT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::cout << result.output;  // the figures, for the log
}

/// Allocates `size`-byte blocks, written, until the pool says ENOMEM (or
/// `most` of them).
int fill_with(std::vector<void*>& blocks, std::size_t size, int most) {
  for (int i = 0; i < most; ++i) {
    errno = 0;
    void* block = secbits_malloc(size);
    if (block == nullptr) return errno;
    std::memset(block, 1, size);
    blocks.push_back(block);
  }
  return 0;
}

// Above the largest size class (64 KiB) each block is a page run of its
// own: two mappings.
TEST(MappingLimit, LargeBlocksStopAtThePoolsBudgetNotAtTheProgramsMappings) {
  expect_pool_stops_at_its_budget([](std::vector<void*>& blocks) { return fill_with(blocks, (64 << 10) + 1, 6000); });
}

// 20 KiB blocks (the case: two mappings each, as large blocks, they
// took all of vm.max_map_count) share slabs, six a slab.
TEST(MappingLimit, TwentyKiBBlocksShareSlabsAndStopAtThePoolsBudget) {
  expect_pool_stops_at_its_budget([](std::vector<void*>& blocks) {
    const int error = fill_with(blocks, 20 << 10, 20000);
    if (blocks.size() < 4000) std::cout << "FAILED: only " << blocks.size() << " blocks of 20 KiB" << std::endl;
    return blocks.size() < 4000 ? -1 : error;
  });
}

TEST(MappingLimit, SmallBlocksOnEagerlyClosedPagesStopAtThePoolsBudget) {
  expect_pool_stops_at_its_budget([](std::vector<void*>& blocks) {
    secbits_set_page_protection(SECBITS_PROTECT_EAGER);
    // One 4 KiB block in two: every other page of every slab open, the
    // most mappings small blocks can make.
    for (int i = 0; i < 40000; ++i) {
      errno = 0;
      void* block = secbits_malloc(4096);
      if (block == nullptr) return errno;
      blocks.push_back(block);
    }
    std::vector<void*> kept;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 2 == 0) secbits_free(blocks[i]);
      else kept.push_back(blocks[i]);
    }
    blocks = kept;
    // Opening pages again must stay within the budget too.
    for (int i = 0; i < 40000; ++i) {
      errno = 0;
      void* block = secbits_malloc(i % 2 ? 4096 : 16384);
      if (block == nullptr) return errno;
      blocks.push_back(block);
    }
    return 0;
  });
}

}  // namespace
