// The secure pool's programming interfaces (the C API, secure_new and
// make_secure_unique, secure_allocator, the pmr resource) behave as their
// standard counterparts: sizes, alignment, zeroed blocks, realloc semantics,
// error reporting, object lifetimes. The security guarantees themselves are in
// tests/guarantees/pool_*.
#include <secbits/secbits.h>

#include <secbits/allocator.hpp>
#include <secbits/memory_resource.hpp>
#include <secbits/pool.hpp>
#include <secbits/secure_new.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <list>
#include <map>
#include <memory_resource>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

std::size_t bytes_in_use() { return secbits::stats().bytes_in_use; }

bool is_aligned(const void* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

bool all_bytes_are(const void* pointer, std::size_t size, unsigned char value) {
  const auto* bytes = static_cast<const unsigned char*>(pointer);
  return std::all_of(bytes, bytes + size, [value](unsigned char b) { return b == value; });
}

// A byte pattern that depends on the position, so that a copy shifted by any
// amount or truncated is told apart from the original.
unsigned char pattern_byte(std::size_t index) { return static_cast<unsigned char>(index * 131 + 7); }

void fill_pattern(void* pointer, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(pointer);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(i);
}

// Index of the first byte that differs from the pattern, or `size`.
std::size_t first_pattern_mismatch(const void* pointer, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(pointer);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != pattern_byte(i)) return i;
  }
  return size;
}

// Sizes on both sides of every boundary a slab pool is likely to have: the
// 16-byte granule, the size classes up to 16 KiB, the page, the switch to
// page runs above 16 KiB, multi-megabyte runs.
const std::vector<std::size_t> kSizes = {
    1,     2,     7,     8,     15,    16,    17,    24,    31,    32,    33,     48,     63,          64,
    65,    100,   127,   128,   129,   255,   256,   257,   500,   511,   512,    513,    1000,        1023,
    1024,  1025,  2047,  2048,  2049,  3000,  4095,  4096,  4097,  8191,  8192,   8193,   12288,       16383,
    16384, 16385, 20000, 32768, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 3 << 20};

// ---------------------------------------------------------------- C API

TEST(PoolMalloc, ReturnsZeroedWritableOwnedBlocksOfAtLeastTheRequestAlignedTo16) {
  // Two rounds: the second gets blocks the first filled with 0xA5 and freed,
  // so "starts zeroed" is checked on reused memory too.
  for (int round = 0; round < 2; ++round) {
    for (const std::size_t size : kSizes) {
      void* p = secbits_malloc(size);
      ASSERT_NE(p, nullptr) << "size " << size;
      EXPECT_TRUE(is_aligned(p, 16)) << "size " << size << " at " << p;
      EXPECT_TRUE(secbits_owns(p)) << "size " << size;
      EXPECT_TRUE(secbits_owns(static_cast<char*>(p) + size - 1)) << "size " << size;
      const std::size_t usable = secbits_usable_size(p);
      EXPECT_GE(usable, size);
      EXPECT_TRUE(all_bytes_are(p, usable, 0)) << "size " << size << " round " << round;
      std::memset(p, 0xA5, usable);  // every usable byte is writable
      secbits_free(p);
    }
  }
}

TEST(PoolMalloc, ZeroBytesGivesANonNullUniqueFreeableBlock) {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    void* p = secbits_malloc(0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(secbits_owns(p));
    EXPECT_TRUE(seen.insert(p).second) << "malloc(0) returned " << p << " twice while both are live";
    blocks.push_back(p);
  }
  for (void* p : blocks) secbits_free(p);
}

TEST(PoolMalloc, LiveBlocksNeverOverlap) {
  // Up to 32 KiB, so that the live set (about 5 MiB) stays inside the
  // default RLIMIT_MEMLOCK of a non-root user.
  std::vector<std::size_t> sizes;
  std::copy_if(kSizes.begin(), kSizes.end(), std::back_inserter(sizes), [](std::size_t n) { return n <= 32768; });
  std::mt19937_64 random(12345);
  std::uniform_int_distribution<std::size_t> pick(0, sizes.size() - 1);
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  std::vector<void*> blocks;
  for (int i = 0; i < 1500; ++i) {
    void* p = secbits_malloc(sizes[pick(random)]);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    ranges.emplace_back(start, start + secbits_usable_size(p));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i - 1].second, ranges[i].first)
        << std::hex << "block 0x" << ranges[i - 1].first << "+0x" << ranges[i - 1].second - ranges[i - 1].first
        << " overlaps block 0x" << ranges[i].first;
  }
  for (void* p : blocks) secbits_free(p);
}

TEST(PoolMalloc, SizeThatCannotBeServedFailsWithNullAndEnomem) {
  // The last two would overflow a careless round-up to the page or size class.
  for (const std::size_t size : {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX / 2 + 1}) {
    errno = 0;
    EXPECT_EQ(secbits_malloc(size), nullptr) << "size " << size;
    EXPECT_EQ(errno, ENOMEM) << "size " << size;
  }
}

TEST(PoolCalloc, ReturnsZeroedMemoryWhereFreedBlocksHeldData) {
  constexpr int kBlocks = 64;
  std::vector<void*> blocks;
  for (int i = 0; i < kBlocks; ++i) {
    void* p = secbits_malloc(200);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xFF, secbits_usable_size(p));
    blocks.push_back(p);
  }
  for (void* p : blocks) secbits_free(p);
  // Same size class: these reuse the slots just filled with 0xFF.
  for (auto& p : blocks) {
    p = secbits_calloc(50, 4);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(all_bytes_are(p, secbits_usable_size(p), 0)) << p;
  }
  for (void* p : blocks) secbits_free(p);

  void* large = secbits_calloc(1000, 100);
  ASSERT_NE(large, nullptr);
  EXPECT_TRUE(all_bytes_are(large, 100000, 0));
  secbits_free(large);
}

TEST(PoolCalloc, CountTimesSizeOverflowFailsWithNullAndEnomem) {
  const std::pair<std::size_t, std::size_t> overflowing[] = {
      {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {SIZE_MAX, SIZE_MAX}, {std::size_t{1} << 33, std::size_t{1} << 32}};
  for (const auto& [count, size] : overflowing) {
    errno = 0;
    EXPECT_EQ(secbits_calloc(count, size), nullptr) << count << " x " << size;
    EXPECT_EQ(errno, ENOMEM) << count << " x " << size;
  }
}

TEST(PoolAlignedAlloc, HonoursEveryPowerOfTwoAlignmentUpTo1MiB) {
  for (std::size_t alignment = 1; alignment <= (std::size_t{1} << 20); alignment *= 2) {
    // C17 no longer requires the size to be a multiple of the alignment.
    for (const std::size_t size : {std::size_t{1}, std::size_t{100}, alignment, alignment + 1}) {
      void* p = secbits_aligned_alloc(alignment, size);
      ASSERT_NE(p, nullptr) << "alignment " << alignment << " size " << size;
      EXPECT_TRUE(is_aligned(p, alignment)) << "alignment " << alignment << " size " << size << " at " << p;
      EXPECT_TRUE(is_aligned(p, 16)) << "blocks are at least 16-byte aligned";
      EXPECT_TRUE(secbits_owns(p));
      EXPECT_GE(secbits_usable_size(p), size);
      EXPECT_TRUE(all_bytes_are(p, size, 0));
      std::memset(p, 0x5C, size);
      secbits_free(p);
    }
  }
}

TEST(PoolAlignedAlloc, AlignmentThatIsNotAPowerOfTwoFailsWithNullAndEinval) {
  for (const std::size_t alignment : {std::size_t{3}, std::size_t{6}, std::size_t{24}, std::size_t{48},
                                      std::size_t{100}, std::size_t{4095}, std::size_t{4097}, std::size_t{12288},
                                      std::size_t{3} << 20, SIZE_MAX}) {
    errno = 0;
    EXPECT_EQ(secbits_aligned_alloc(alignment, 64), nullptr) << "alignment " << alignment;
    EXPECT_EQ(errno, EINVAL) << "alignment " << alignment;
  }
}

TEST(PoolRealloc, OfNullAllocates) {
  void* p = secbits_realloc(nullptr, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(secbits_owns(p));
  EXPECT_GE(secbits_usable_size(p), 100u);
  secbits_free(p);
}

TEST(PoolRealloc, KeepsTheContentAcrossSizeClassesAndPageRuns) {
  const std::pair<std::size_t, std::size_t> moves[] = {
      {24, 200},           {3000, 16000},       {200, 24},       {5000, 5000},   // small -> small
      {1000, 100000},      {16384, 16385},      {16, 1 << 20},                   // small -> large
      {100000, 300000},    {300000, 70000},     {1 << 20, 3 << 20},              // large -> large
      {100000, 500},       {20000, 16},         {3 << 20, 4000},                 // large -> small
  };
  for (const auto& [from, to] : moves) {
    void* p = secbits_malloc(from);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, from);
    void* q = secbits_realloc(p, to);
    ASSERT_NE(q, nullptr) << from << " -> " << to;
    EXPECT_TRUE(secbits_owns(q));
    EXPECT_TRUE(is_aligned(q, 16));
    EXPECT_GE(secbits_usable_size(q), to) << from << " -> " << to;
    const std::size_t kept = std::min(from, to);
    EXPECT_EQ(first_pattern_mismatch(q, kept), kept) << from << " -> " << to;
    std::memset(q, 0x33, to);  // the whole new size is writable
    secbits_free(q);
  }
}

TEST(PoolRealloc, ToZeroFreesTheBlockAndReturnsNull) {
  const std::size_t baseline = bytes_in_use();
  void* p = secbits_malloc(1000);
  ASSERT_NE(p, nullptr);
  ASSERT_GT(bytes_in_use(), baseline);
  EXPECT_EQ(secbits_realloc(p, 0), nullptr);
  EXPECT_EQ(bytes_in_use(), baseline);
  // Freed for real: the pool now sees a second free of p as a double free.
  EXPECT_DEATH(secbits_free(p), "secbits: [^\n]*double free");
}

TEST(PoolRealloc, SizeThatCannotBeServedFailsWithEnomemAndLeavesTheBlockIntact) {
  for (const std::size_t from : {std::size_t{100}, std::size_t{100000}}) {
    void* p = secbits_malloc(from);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, from);
    errno = 0;
    EXPECT_EQ(secbits_realloc(p, SIZE_MAX), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(first_pattern_mismatch(p, from), from);
    EXPECT_GE(secbits_usable_size(p), from);
    secbits_free(p);
  }
}

TEST(PoolFree, IgnoresNullAndPreservesErrno) {
  errno = EILSEQ;
  secbits_free(nullptr);
  EXPECT_EQ(errno, EILSEQ);
  for (const std::size_t size : {std::size_t{10}, std::size_t{5000}, std::size_t{100000}}) {
    void* p = secbits_malloc(size);
    ASSERT_NE(p, nullptr);
    errno = EILSEQ;
    secbits_free(p);
    EXPECT_EQ(errno, EILSEQ) << "size " << size;
  }
}

// Up to 1 KiB, a thread keeps the blocks it freed last of each class and
// hands out the newest first: the free has just wiped it, so it is in the
// cache. (Hardened pools quarantine freed blocks instead; this one is not.)
TEST(PoolFree, TheNextBlockOfASmallClassIsTheOneFreedLast) {
  for (const std::size_t size : {std::size_t{16}, std::size_t{200}, std::size_t{1024}}) {
    std::array<void*, 4> blocks{};
    for (void*& p : blocks) {
      p = secbits_malloc(size);
      ASSERT_NE(p, nullptr);
    }
    secbits_free(blocks[1]);
    secbits_free(blocks[3]);
    void* newest = secbits_malloc(size);
    void* older = secbits_malloc(size);
    EXPECT_EQ(newest, blocks[3]) << "size " << size;
    EXPECT_EQ(older, blocks[1]) << "size " << size;
    secbits_free(newest);
    secbits_free(older);
    secbits_free(blocks[0]);
    secbits_free(blocks[2]);
  }
}

TEST(PoolUsableSize, IsZeroForNull) { EXPECT_EQ(secbits_usable_size(nullptr), 0u); }

int static_variable = 0;

TEST(PoolOwns, IsTrueOnlyInsidePoolBlocks) {
  int on_stack = 0;
  void* from_libc = std::malloc(64);
  ASSERT_NE(from_libc, nullptr);
  EXPECT_FALSE(secbits_owns(nullptr));
  EXPECT_FALSE(secbits_owns(&on_stack));
  EXPECT_FALSE(secbits_owns(from_libc));
  EXPECT_FALSE(secbits_owns(&static_variable));
  EXPECT_FALSE(secbits_owns(reinterpret_cast<const void*>(&secbits_malloc)));
  std::free(from_libc);

  for (const std::size_t size : {std::size_t{1}, std::size_t{4096}, std::size_t{100000}}) {
    void* p = secbits_malloc(size);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(secbits_owns(p));
    EXPECT_TRUE(secbits_owns(static_cast<char*>(p) + secbits_usable_size(p) - 1));
    secbits_free(p);
  }
}

TEST(PoolStats, BytesInUseFollowsLiveBlocks) {
  const secbits::PoolStats before = secbits::stats();
  void* small = secbits_malloc(1000);
  void* large = secbits_malloc(100000);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  const secbits::PoolStats during = secbits::stats();
  EXPECT_EQ(during.bytes_in_use,
            before.bytes_in_use + secbits_usable_size(small) + secbits_usable_size(large));
  EXPECT_GE(during.bytes_in_use, before.bytes_in_use + 101000);
  EXPECT_GE(during.peak_bytes_in_use, during.bytes_in_use);
  EXPECT_GE(during.bytes_committed, during.bytes_in_use);
  EXPECT_LE(during.bytes_locked, during.bytes_committed);
  EXPECT_EQ(during.large_blocks, before.large_blocks + 1);
  EXPECT_GE(during.slabs, 1u);

  secbits_free(small);
  secbits_free(large);
  const secbits::PoolStats after = secbits::stats();
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(after.large_blocks, before.large_blocks);
  EXPECT_GE(after.peak_bytes_in_use, during.bytes_in_use);
}

// ---------------------------------------------------------------- C++: allocate/deallocate

TEST(PoolAllocate, HonoursAlignmentAndThrowsBadAllocWhenItCannotServe) {
  for (std::size_t alignment = 1; alignment <= 8192; alignment *= 2) {
    void* p = secbits::allocate(300, alignment);
    EXPECT_TRUE(is_aligned(p, alignment)) << "alignment " << alignment;
    EXPECT_TRUE(secbits_owns(p));
    EXPECT_TRUE(all_bytes_are(p, 300, 0));
    secbits::deallocate(p);
  }
  secbits::deallocate(nullptr);
  EXPECT_THROW((void)secbits::allocate(SIZE_MAX), std::bad_alloc);
  EXPECT_THROW((void)secbits::allocate(SIZE_MAX / 2 + 1, 4096), std::bad_alloc);
}

// ---------------------------------------------------------------- secure_new, make_secure_unique

struct Tracked {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  static void reset() { constructed = destroyed = 0; }

  int value;
  std::array<char, 40> padding{};

  Tracked() : value(42) { ++constructed; }
  explicit Tracked(int v) : value(v) { ++constructed; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { ++destroyed; }
};

// Throws from its constructor; big enough to be a page run when `Size` > 16 KiB.
template <std::size_t Size>
struct ThrowsOnConstruction {
  std::array<char, Size> payload;
  ThrowsOnConstruction() : payload{} { throw std::runtime_error("constructor failed"); }
};

// The n-th construction (counted across all instances) throws.
struct ThrowsOnTenthElement {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  int value;
  ThrowsOnTenthElement() : value(7) {
    if (constructed == 9) throw std::runtime_error("tenth element");
    ++constructed;
  }
  ~ThrowsOnTenthElement() { ++destroyed; }
};

struct alignas(64) CacheLineAligned {
  char bytes[64];
};
struct alignas(4096) PageAligned {
  char bytes[100];
};
struct alignas(8192) TwoPageAligned {
  char bytes[10];
};

TEST(SecureNew, ConstructsInThePoolAndSecureDeleteRunsTheDestructor) {
  Tracked::reset();
  const std::size_t baseline = bytes_in_use();
  Tracked* object = secbits::secure_new<Tracked>(1234);
  ASSERT_NE(object, nullptr);
  EXPECT_TRUE(secbits_owns(object));
  EXPECT_EQ(object->value, 1234);
  EXPECT_EQ(Tracked::constructed, 1);
  EXPECT_GT(bytes_in_use(), baseline);
  secbits::secure_delete(object);
  EXPECT_EQ(Tracked::destroyed, 1);
  EXPECT_EQ(bytes_in_use(), baseline);
  secbits::secure_delete(static_cast<Tracked*>(nullptr));
}

TEST(SecureNew, ThrowingConstructorPropagatesAndLeavesNoBlockBehind) {
  const std::size_t baseline = bytes_in_use();
  const std::size_t large_baseline = secbits::stats().large_blocks;
  EXPECT_THROW(secbits::secure_new<ThrowsOnConstruction<100>>(), std::runtime_error);
  EXPECT_EQ(bytes_in_use(), baseline);
  EXPECT_THROW(secbits::secure_new<ThrowsOnConstruction<100000>>(), std::runtime_error);
  EXPECT_EQ(bytes_in_use(), baseline);
  EXPECT_EQ(secbits::stats().large_blocks, large_baseline);
}

TEST(SecureNew, OverAlignedTypesGetTheirAlignment) {
  auto* line = secbits::secure_new<CacheLineAligned>();
  auto* page = secbits::secure_new<PageAligned>();
  auto* two_pages = secbits::secure_new<TwoPageAligned>();
  EXPECT_TRUE(is_aligned(line, 64)) << line;
  EXPECT_TRUE(is_aligned(page, 4096)) << page;
  EXPECT_TRUE(is_aligned(two_pages, 8192)) << two_pages;
  EXPECT_TRUE(secbits_owns(line) && secbits_owns(page) && secbits_owns(two_pages));
  secbits::secure_delete(line);
  secbits::secure_delete(page);
  secbits::secure_delete(two_pages);
}

TEST(MakeSecureUnique, SingleObjectLivesInThePoolUntilReset) {
  Tracked::reset();
  const std::size_t baseline = bytes_in_use();
  auto object = secbits::make_secure_unique<Tracked>(99);
  EXPECT_TRUE(secbits_owns(object.get()));
  EXPECT_EQ(object->value, 99);
  object.reset();
  EXPECT_EQ(Tracked::destroyed, 1);
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(MakeSecureUnique, ArrayValueInitialisesEveryElementAndDestroysEveryOne) {
  Tracked::reset();
  const std::size_t baseline = bytes_in_use();
  constexpr std::size_t kCount = 1000;  // 48 KB: a page run
  {
    auto objects = secbits::make_secure_unique<Tracked[]>(kCount);
    EXPECT_TRUE(secbits_owns(objects.get()));
    EXPECT_TRUE(secbits_owns(&objects[kCount - 1]));
    EXPECT_EQ(Tracked::constructed, static_cast<int>(kCount));
    for (std::size_t i = 0; i < kCount; ++i) ASSERT_EQ(objects[i].value, 42) << "element " << i;
    EXPECT_EQ(Tracked::destroyed, 0);
  }
  EXPECT_EQ(Tracked::destroyed, static_cast<int>(kCount));
  EXPECT_EQ(bytes_in_use(), baseline);

  auto numbers = secbits::make_secure_unique<std::uint64_t[]>(5000);
  EXPECT_TRUE(secbits_owns(numbers.get()));
  EXPECT_TRUE(std::all_of(numbers.get(), numbers.get() + 5000, [](std::uint64_t n) { return n == 0; }));
}

TEST(MakeSecureUnique, ArrayWhoseElementThrowsDestroysTheBuiltElementsAndFreesTheMemory) {
  ThrowsOnTenthElement::constructed = ThrowsOnTenthElement::destroyed = 0;
  const std::size_t baseline = bytes_in_use();
  EXPECT_THROW(secbits::make_secure_unique<ThrowsOnTenthElement[]>(100), std::runtime_error);
  EXPECT_EQ(ThrowsOnTenthElement::constructed, 9);
  EXPECT_EQ(ThrowsOnTenthElement::destroyed, 9);
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(MakeSecureUnique, ArrayWhoseByteCountOverflowsThrowsBadArrayNewLength) {
  EXPECT_THROW(secbits::make_secure_unique<std::uint64_t[]>(SIZE_MAX / 4), std::bad_array_new_length);
}

// ---------------------------------------------------------------- secure_allocator

template <class Container>
void expect_every_element_in_pool(const Container& container) {
  std::size_t outside = 0;
  for (const auto& element : container) outside += secbits_owns(&element) ? 0 : 1;
  EXPECT_EQ(outside, 0u) << "of " << container.size() << " elements";
}

TEST(SecureAllocator, VectorKeepsItsElementsInThePool) {
  const std::size_t baseline = bytes_in_use();
  {
    secbits::secure_vector<int> numbers;
    for (int i = 0; i < 10000; ++i) numbers.push_back(i * 3);  // grows through small classes into page runs
    EXPECT_TRUE(secbits_owns(numbers.data()));
    expect_every_element_in_pool(numbers);
    for (int i = 0; i < 10000; ++i) ASSERT_EQ(numbers[static_cast<std::size_t>(i)], i * 3);
    numbers.resize(10);
    numbers.shrink_to_fit();
    EXPECT_TRUE(secbits_owns(numbers.data()));
    EXPECT_EQ(numbers[9], 27);
  }
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(SecureAllocator, StringLongerThanTheSmallBufferKeepsItsCharactersInThePool) {
  const std::size_t baseline = bytes_in_use();
  {
    secbits::secure_string secret(100, 'x');
    EXPECT_TRUE(secbits_owns(secret.data()));
    secret += std::string(20000, 'y');
    EXPECT_TRUE(secbits_owns(secret.data()));
    EXPECT_EQ(secret.size(), 20100u);
    EXPECT_EQ(secret[99], 'x');
    EXPECT_EQ(secret[20099], 'y');
    // What allocator.hpp warns about: a short string stays inside the object.
    secbits::secure_string small = "abc";
    EXPECT_FALSE(secbits_owns(small.data()));
  }
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(SecureAllocator, NodeBasedAndSegmentedContainersAllocateEveryNodeInThePool) {
  const std::size_t baseline = bytes_in_use();
  {
    std::map<int, int, std::less<int>, secbits::secure_allocator<std::pair<const int, int>>> ordered;
    std::unordered_map<int, int, std::hash<int>, std::equal_to<int>,
                       secbits::secure_allocator<std::pair<const int, int>>>
        hashed;
    std::list<int, secbits::secure_allocator<int>> linked;
    std::deque<int, secbits::secure_allocator<int>> segmented;
    for (int i = 0; i < 2000; ++i) {
      ordered.emplace(i, -i);
      hashed.emplace(i, -i);
      linked.push_back(i);
      if (i % 2 != 0) {
        segmented.push_back(i);
      } else {
        segmented.push_front(i);
      }
    }
    expect_every_element_in_pool(ordered);
    expect_every_element_in_pool(hashed);
    expect_every_element_in_pool(linked);
    expect_every_element_in_pool(segmented);
    EXPECT_EQ(ordered.at(1999), -1999);
    EXPECT_EQ(hashed.at(1234), -1234);
    EXPECT_EQ(linked.back(), 1999);
    EXPECT_EQ(segmented.front(), 1998);
    EXPECT_EQ(segmented.back(), 1999);
    EXPECT_GT(bytes_in_use(), baseline);
  }
  EXPECT_EQ(bytes_in_use(), baseline);  // every node and bucket array was given back
}

TEST(SecureAllocator, AllInstancesAreEqualAndImpossibleCountsThrow) {
  EXPECT_TRUE(secbits::secure_allocator<int>{} == secbits::secure_allocator<double>{});
  secbits::secure_allocator<std::uint64_t> allocator;
  EXPECT_THROW((void)allocator.allocate(SIZE_MAX / 4), std::bad_array_new_length);
  EXPECT_THROW((void)allocator.allocate(SIZE_MAX / 16), std::bad_alloc);
  std::uint64_t* p = allocator.allocate(3);
  EXPECT_TRUE(secbits_owns(p));
  EXPECT_TRUE(is_aligned(p, alignof(std::uint64_t)));
  allocator.deallocate(p, 3);
}

// ---------------------------------------------------------------- pmr

TEST(SecureMemoryResource, PmrVectorKeepsItsElementsInThePool) {
  const std::size_t baseline = bytes_in_use();
  {
    std::pmr::vector<std::uint64_t> numbers(secbits::secure_memory_resource());
    for (std::uint64_t i = 0; i < 20000; ++i) numbers.push_back(i * i);
    EXPECT_TRUE(secbits_owns(numbers.data()));
    EXPECT_EQ(numbers[19999], 19999u * 19999u);
    std::pmr::string text(std::string(500, 'p'), secbits::secure_memory_resource());
    EXPECT_TRUE(secbits_owns(text.data()));
  }
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(SecureMemoryResource, HonoursEveryPowerOfTwoAlignmentIncludingAboveThePageSize) {
  std::pmr::memory_resource* resource = secbits::secure_memory_resource();
  const std::size_t baseline = bytes_in_use();
  for (std::size_t alignment = 1; alignment <= (std::size_t{1} << 20); alignment *= 2) {
    for (const std::size_t size : {std::size_t{1}, std::size_t{24}, alignment, 3 * alignment + 1}) {
      void* p = resource->allocate(size, alignment);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(is_aligned(p, alignment)) << "alignment " << alignment << " size " << size << " at " << p;
      EXPECT_TRUE(secbits_owns(p));
      EXPECT_TRUE(all_bytes_are(p, size, 0));
      std::memset(p, 0x77, size);
      resource->deallocate(p, size, alignment);
    }
  }
  EXPECT_EQ(bytes_in_use(), baseline);
}

TEST(SecureMemoryResource, IsEqualOnlyToItself) {
  std::pmr::memory_resource* resource = secbits::secure_memory_resource();
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource, secbits::secure_memory_resource());  // one process-wide instance
  EXPECT_TRUE(resource->is_equal(*resource));
  EXPECT_FALSE(resource->is_equal(*std::pmr::new_delete_resource()));
  EXPECT_FALSE(std::pmr::new_delete_resource()->is_equal(*resource));
  EXPECT_FALSE(resource->is_equal(*std::pmr::null_memory_resource()));
  std::pmr::unsynchronized_pool_resource upstream_user(resource);
  EXPECT_FALSE(resource->is_equal(upstream_user));
}

TEST(SecureMemoryResource, ImpossibleSizeThrowsBadAlloc) {
  EXPECT_THROW((void)secbits::secure_memory_resource()->allocate(SIZE_MAX, 16), std::bad_alloc);
  EXPECT_THROW((void)secbits::secure_memory_resource()->allocate(SIZE_MAX / 2, 1 << 20), std::bad_alloc);
}

}  // namespace
