// The contract of every C allocation function and of all 20 operator
// new/delete forms, as an unmodified program sees it under the interposer.
//
// The C functions are reached through dlsym(RTLD_DEFAULT, name), the lookup
// the dynamic linker does for any program: the compiler cannot fold a call
// into a builtin, and nothing of secbits is linked into this binary (it runs
// with LD_PRELOAD=libsecbits_preload.so, set by CTest). Each row checks what
// the process really gets: return values and errno, alignment, and where the
// block lies (/proc/self/smaps: locked `lo` and undumpable `dd`), and, for
// frees, the bytes the kernel reads back afterwards.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/child.hpp"
#include "support/smaps.hpp"

namespace {

constexpr std::size_t kPage = 4096;
/// Blocks kept live at once where alignment is checked: one block may be
/// aligned by chance, eight in a row are not.
constexpr int kLiveBlocks = 8;

template <class Function>
Function resolve(const char* name) {
  return reinterpret_cast<Function>(::dlsym(RTLD_DEFAULT, name));
}

// The process's allocation functions, as the dynamic linker resolves them.
struct CFunctions {
  void* (*malloc)(std::size_t) = resolve<void* (*)(std::size_t)>("malloc");
  void (*free)(void*) = resolve<void (*)(void*)>("free");
  void* (*calloc)(std::size_t, std::size_t) = resolve<void* (*)(std::size_t, std::size_t)>("calloc");
  void* (*realloc)(void*, std::size_t) = resolve<void* (*)(void*, std::size_t)>("realloc");
  void* (*reallocarray)(void*, std::size_t, std::size_t) =
      resolve<void* (*)(void*, std::size_t, std::size_t)>("reallocarray");
  int (*posix_memalign)(void**, std::size_t, std::size_t) =
      resolve<int (*)(void**, std::size_t, std::size_t)>("posix_memalign");
  void* (*aligned_alloc)(std::size_t, std::size_t) = resolve<void* (*)(std::size_t, std::size_t)>("aligned_alloc");
  void* (*memalign)(std::size_t, std::size_t) = resolve<void* (*)(std::size_t, std::size_t)>("memalign");
  void* (*valloc)(std::size_t) = resolve<void* (*)(std::size_t)>("valloc");
  void* (*pvalloc)(std::size_t) = resolve<void* (*)(std::size_t)>("pvalloc");
  std::size_t (*malloc_usable_size)(void*) = resolve<std::size_t (*)(void*)>("malloc_usable_size");
  // C23; glibc 2.36 neither declares nor defines them: only the interposer does.
  void (*free_sized)(void*, std::size_t) = resolve<void (*)(void*, std::size_t)>("free_sized");
  void (*free_aligned_sized)(void*, std::size_t, std::size_t) =
      resolve<void (*)(void*, std::size_t, std::size_t)>("free_aligned_sized");
  void (*cfree)(void*) = resolve<void (*)(void*)>("cfree");
  void* (*libc_malloc)(std::size_t) = resolve<void* (*)(std::size_t)>("__libc_malloc");
  void (*libc_free)(void*) = resolve<void (*)(void*)>("__libc_free");
  void* (*libc_calloc)(std::size_t, std::size_t) = resolve<void* (*)(std::size_t, std::size_t)>("__libc_calloc");
  void* (*libc_realloc)(void*, std::size_t) = resolve<void* (*)(void*, std::size_t)>("__libc_realloc");
  void* (*libc_memalign)(std::size_t, std::size_t) = resolve<void* (*)(std::size_t, std::size_t)>("__libc_memalign");
  void* (*libc_valloc)(std::size_t) = resolve<void* (*)(std::size_t)>("__libc_valloc");
  void* (*libc_pvalloc)(std::size_t) = resolve<void* (*)(std::size_t)>("__libc_pvalloc");
  int (*posix_memalign_internal)(void**, std::size_t, std::size_t) =
      resolve<int (*)(void**, std::size_t, std::size_t)>("__posix_memalign");
};

const CFunctions& c() {
  static const CFunctions functions;
  return functions;
}

constexpr const char* kCNames[] = {
    "malloc",        "free",          "calloc",         "realloc",        "reallocarray",   "posix_memalign",
    "aligned_alloc", "memalign",      "valloc",         "pvalloc",        "malloc_usable_size", "free_sized",
    "free_aligned_sized", "cfree",    "__libc_malloc",  "__libc_free",    "__libc_calloc",  "__libc_realloc",
    "__libc_memalign", "__libc_valloc", "__libc_pvalloc", "__posix_memalign"};

constexpr const char* kCxxNames[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm",
    "_ZdaPvm", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t"};

/// The shared object that defines the process's `name`, or why there is none.
std::string defining_object(const char* name) {
  void* address = ::dlsym(RTLD_DEFAULT, name);
  if (address == nullptr) return "(not defined)";
  Dl_info info{};
  if (::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "(unknown object)";
  return info.dli_fname;
}

bool is_interposer(const std::string& object) {
  const std::string suffix = "/libsecbits_preload.so";
  return object.size() >= suffix.size() && object.compare(object.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Sizes no allocator can serve, hidden from the compiler (which would warn
/// about a constant larger than any object).
volatile std::size_t g_max = SIZE_MAX;
std::size_t impossible_sizes(int which) {
  switch (which) {
    case 0: return g_max;
    case 1: return g_max / 2 + 1;
    case 2: return std::size_t{1} << 48;  // 256 TiB: more than the address space the pool reserves
    default: return g_max - kPage + 2;    // overflows any rounding to pages
  }
}
constexpr int kImpossibleSizes = 4;

std::string hex(const void* pointer) {
  std::ostringstream out;
  out << pointer;
  return out.str();
}

/// The ownership guarantee seen by the kernel: the block lies in a mapping
/// that is locked (VmFlags lo) and excluded from core dumps (dd).
::testing::AssertionResult InSecureMemory(const void* pointer) {
  if (pointer == nullptr) return ::testing::AssertionFailure() << "null pointer";
  const auto mapping = secbits::test::mapping_containing(pointer);
  if (!mapping) return ::testing::AssertionFailure() << hex(pointer) << " is in no mapping";
  if (mapping->has_flag("lo") && mapping->has_flag("dd")) return ::testing::AssertionSuccess();
  std::string flags;
  for (const std::string& flag : mapping->flags) flags += flag + " ";
  return ::testing::AssertionFailure() << hex(pointer) << " lies in " << std::hex << mapping->start << "-"
                                       << mapping->end << " " << mapping->permissions << " VmFlags: " << flags
                                       << "(wanted lo and dd)";
}

bool aligned(const void* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

/// What the kernel reads back from [pointer, pointer + size), one page at a
/// time (process_vm_readv on ourselves: a PROT_NONE or unmapped page is an
/// EFAULT, not a SIGSEGV). The buffer is static so that looking allocates
/// nothing: an allocation here could be handed the very block just freed.
struct Observed {
  std::size_t unreadable = 0;
  std::size_t nonzero = 0;
};
Observed observe(const void* pointer, std::size_t size) {
  alignas(kPage) static unsigned char buffer[kPage];
  Observed seen;
  auto at = reinterpret_cast<std::uintptr_t>(pointer);
  const std::uintptr_t end = at + size;
  while (at < end) {
    const std::size_t chunk = std::min<std::uintptr_t>(end, (at / kPage + 1) * kPage) - at;
    iovec local{buffer, chunk};
    iovec remote{reinterpret_cast<void*>(at), chunk};
    if (::syscall(SYS_process_vm_readv, ::getpid(), &local, 1UL, &remote, 1UL, 0UL) != static_cast<long>(chunk)) {
      seen.unreadable += chunk;
    } else {
      for (std::size_t i = 0; i < chunk; ++i) seen.nonzero += buffer[i] != 0;
    }
    at += chunk;
  }
  return seen;
}

void fill(void* pointer, std::size_t size, unsigned seed) {
  auto* bytes = static_cast<unsigned char*>(pointer);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>((i * 131 + seed) % 251 + 1);
}

/// Index of the first byte that differs from fill(), or size.
std::size_t first_mismatch(const void* pointer, std::size_t size, unsigned seed) {
  const auto* bytes = static_cast<const unsigned char*>(pointer);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != static_cast<unsigned char>((i * 131 + seed) % 251 + 1)) return i;
  }
  return size;
}

// Every test starts by checking that the process's malloc is the
// interposer's: without it, every other row would test glibc.
class Preloaded : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string object = defining_object("malloc");
    ASSERT_TRUE(is_interposer(object)) << "dlsym(RTLD_DEFAULT, \"malloc\") is defined by " << object
                                       << ", not libsecbits_preload.so: run this program with LD_PRELOAD";
  }
};

TEST_F(Preloaded, EveryAllocationFunctionResolvesToTheInterposer) {
  for (const char* name : kCNames) EXPECT_TRUE(is_interposer(defining_object(name))) << name << " -> " << defining_object(name);
  for (const char* name : kCxxNames) EXPECT_TRUE(is_interposer(defining_object(name))) << name << " -> " << defining_object(name);
}

// Hardening level 1 and up (the default): a zero-size block is a unique
// address on a page that is never opened, so a read or write through it
// faults instead of reaching a neighbour's bytes.
TEST_F(Preloaded, MallocZeroReturnsDistinctBlocksThatFaultOnAnyAccess) {
  void* first = c().malloc(0);
  void* second = c().malloc(0);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first, second);
  EXPECT_EQ(observe(first, 1).unreadable, 1u);
  EXPECT_EQ(observe(second, 1).unreadable, 1u);
  EXPECT_EQ(c().malloc_usable_size(first), 0u);
  const secbits::test::ChildResult read = secbits::test::run_in_child([&] { return *static_cast<volatile char*>(first); });
  EXPECT_FALSE(read.exited);
  EXPECT_EQ(read.term_signal, SIGSEGV);
  const secbits::test::ChildResult write = secbits::test::run_in_child([&] {
    *static_cast<volatile char*>(second) = 1;
    return 0;
  });
  EXPECT_FALSE(write.exited);
  EXPECT_EQ(write.term_signal, SIGSEGV);
  c().free(first);
  c().free(second);
}

TEST_F(Preloaded, MallocOfAnImpossibleSizeFailsWithEnomem) {
  for (int i = 0; i < kImpossibleSizes; ++i) {
    errno = 0;
    EXPECT_EQ(c().malloc(impossible_sizes(i)), nullptr) << impossible_sizes(i);
    EXPECT_EQ(errno, ENOMEM) << impossible_sizes(i);
  }
}

TEST_F(Preloaded, CallocWhoseProductOverflowsFailsWithEnomem) {
  const std::size_t pairs[][2] = {{g_max, 2}, {2, g_max}, {std::size_t{1} << 32, std::size_t{1} << 32}, {g_max / 16 + 1, 16}};
  for (const auto& pair : pairs) {
    errno = 0;
    EXPECT_EQ(c().calloc(pair[0], pair[1]), nullptr) << pair[0] << " x " << pair[1];
    EXPECT_EQ(errno, ENOMEM) << pair[0] << " x " << pair[1];
  }
}

TEST_F(Preloaded, CallocReturnsZeroedSecureMemoryWhereADirtyBlockWas) {
  for (std::size_t size : {std::size_t{256}, std::size_t{200000}}) {
    void* dirty = c().malloc(size);
    ASSERT_NE(dirty, nullptr);
    std::memset(dirty, 0xa5, size);
    c().free(dirty);
    auto* zeroed = static_cast<unsigned char*>(c().calloc(1, size));
    ASSERT_NE(zeroed, nullptr);
    EXPECT_TRUE(InSecureMemory(zeroed));
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < size; ++i) nonzero += zeroed[i] != 0;
    EXPECT_EQ(nonzero, 0u) << "calloc(1, " << size << ")";
    c().free(zeroed);
  }
}

TEST_F(Preloaded, ReallocToZeroFreesTheBlockAndReturnsNull) {
  for (std::size_t size : {std::size_t{64}, std::size_t{200000}}) {
    void* block = c().malloc(size);
    ASSERT_NE(block, nullptr);
    std::memset(block, 0xa5, size);
    errno = 0;
    EXPECT_EQ(c().realloc(block, 0), nullptr);
    EXPECT_EQ(errno, 0);
    // Freed: wiped, or (a large block) no longer readable at all.
    const Observed seen = observe(block, size);
    EXPECT_EQ(seen.nonzero, 0u) << "realloc(p, 0) of " << size << " bytes left the content readable";
  }
}

TEST_F(Preloaded, ReallocOfNullToZeroReturnsAZeroSizeBlock) {
  void* block = c().realloc(nullptr, 0);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(observe(block, 1).unreadable, 1u);
  void* grown = c().realloc(block, 100);
  ASSERT_NE(grown, nullptr);
  EXPECT_TRUE(InSecureMemory(grown));
  c().free(grown);
}

TEST_F(Preloaded, ReallocKeepsTheContentAndWipesABlockItLeaves) {
  const std::size_t sizes[] = {10, 100, 3000, 20000, 300000, 5000, 40};
  std::size_t size = sizes[0];
  void* block = c().malloc(size);
  ASSERT_NE(block, nullptr);
  fill(block, size, 1);
  for (std::size_t i = 1; i < std::size(sizes); ++i) {
    const std::size_t next = sizes[i];
    void* moved = c().realloc(block, next);
    ASSERT_NE(moved, nullptr) << size << " -> " << next;
    // Looked at first: reading smaps below allocates, and could be handed
    // the block realloc has just left.
    const Observed left = moved != block ? observe(block, size) : Observed{};
    EXPECT_EQ(left.nonzero, 0u) << "the block left by realloc " << size << " -> " << next << " still holds "
                                << left.nonzero << " bytes of its content";
    EXPECT_TRUE(InSecureMemory(moved)) << size << " -> " << next;
    const std::size_t kept = std::min(size, next);
    EXPECT_EQ(first_mismatch(moved, kept, static_cast<unsigned>(i)), kept) << size << " -> " << next;
    block = moved;
    size = next;
    fill(block, size, static_cast<unsigned>(i + 1));
  }
  c().free(block);
}

TEST_F(Preloaded, FailedReallocReturnsNullWithEnomemAndKeepsTheBlock) {
  for (std::size_t size : {std::size_t{100}, std::size_t{200000}}) {
    void* block = c().malloc(size);
    ASSERT_NE(block, nullptr);
    fill(block, size, 7);
    for (int i = 0; i < kImpossibleSizes; ++i) {
      errno = 0;
      EXPECT_EQ(c().realloc(block, impossible_sizes(i)), nullptr) << size << " -> " << impossible_sizes(i);
      EXPECT_EQ(errno, ENOMEM);
    }
    EXPECT_EQ(first_mismatch(block, size, 7), size) << "content of the " << size << "-byte block changed";
    EXPECT_TRUE(InSecureMemory(block));
    EXPECT_GE(c().malloc_usable_size(block), size);
    c().free(block);
  }
}

TEST_F(Preloaded, ReallocarrayWhoseProductOverflowsFailsWithEnomemAndKeepsTheBlock) {
  errno = 0;
  EXPECT_EQ(c().reallocarray(nullptr, g_max / 2 + 1, 2), nullptr);
  EXPECT_EQ(errno, ENOMEM);

  void* block = c().reallocarray(nullptr, 10, 8);
  ASSERT_NE(block, nullptr);
  EXPECT_TRUE(InSecureMemory(block));
  fill(block, 80, 3);
  errno = 0;
  EXPECT_EQ(c().reallocarray(block, std::size_t{1} << 33, std::size_t{1} << 33), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(first_mismatch(block, 80, 3), 80u);
  void* grown = c().reallocarray(block, 100, 8);
  ASSERT_NE(grown, nullptr);
  EXPECT_TRUE(InSecureMemory(grown));
  EXPECT_EQ(first_mismatch(grown, 80, 3), 80u);
  c().free(grown);
}

TEST_F(Preloaded, PosixMemalignRejectsABadAlignmentWithoutTouchingResultOrErrno) {
  // 1, 2 and 4 are powers of two but not multiples of sizeof(void*).
  const std::size_t alignments[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, (std::size_t{1} << 63) + 8};
  for (std::size_t alignment : alignments) {
    void* const sentinel = reinterpret_cast<void*>(std::uintptr_t{0x5eb175});
    void* result = sentinel;
    errno = EINTR;
    EXPECT_EQ(c().posix_memalign(&result, alignment, 64), EINVAL) << "alignment " << alignment;
    EXPECT_EQ(result, sentinel) << "alignment " << alignment;
    EXPECT_EQ(errno, EINTR) << "alignment " << alignment;
  }
}

TEST_F(Preloaded, PosixMemalignOutOfMemoryReturnsEnomemWithoutTouchingResult) {
  for (std::size_t alignment : {std::size_t{8}, std::size_t{64}, std::size_t{8192}}) {
    for (int i = 0; i < kImpossibleSizes; ++i) {
      void* const sentinel = reinterpret_cast<void*>(std::uintptr_t{0x5eb175});
      void* result = sentinel;
      errno = 0;
      EXPECT_EQ(c().posix_memalign(&result, alignment, impossible_sizes(i)), ENOMEM)
          << "alignment " << alignment << ", size " << impossible_sizes(i);
      EXPECT_EQ(result, sentinel);
      EXPECT_EQ(errno, ENOMEM) << "glibc sets errno as well as returning ENOMEM";
    }
  }
}

TEST_F(Preloaded, PosixMemalignHonoursEveryValidAlignment) {
  for (std::size_t alignment = 8; alignment <= (std::size_t{1} << 20); alignment *= 2) {
    for (std::size_t size : {std::size_t{1}, std::size_t{100}, std::size_t{5000}, std::size_t{100000}}) {
      void* blocks[kLiveBlocks];
      for (void*& block : blocks) {
        ASSERT_EQ(c().posix_memalign(&block, alignment, size), 0) << alignment << "/" << size;
        EXPECT_TRUE(aligned(block, alignment)) << block << " for alignment " << alignment;
        EXPECT_GE(c().malloc_usable_size(block), size);
      }
      EXPECT_TRUE(InSecureMemory(blocks[0]));
      for (void* block : blocks) c().free(block);
    }
  }
}

TEST_F(Preloaded, AlignedAllocFollowsC17) {
  // C17 (DR 460): an alignment that is not a power of two is an error...
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{24}, std::size_t{100}, g_max}) {
    errno = 0;
    EXPECT_EQ(c().aligned_alloc(alignment, 64), nullptr) << "alignment " << alignment;
    EXPECT_EQ(errno, EINVAL) << "alignment " << alignment;
  }
  // ...any power of two is fine, even below sizeof(void*), and the size need
  // not be a multiple of the alignment (N2072).
  for (std::size_t alignment : {1, 2, 4, 8, 16, 32, 64, 4096, 8192}) {
    for (std::size_t size : {1, 3, 100, 5000}) {
      void* blocks[kLiveBlocks];
      for (void*& block : blocks) {
        block = c().aligned_alloc(alignment, size);
        ASSERT_NE(block, nullptr) << alignment << "/" << size;
        EXPECT_TRUE(aligned(block, alignment)) << block << " for alignment " << alignment;
      }
      EXPECT_TRUE(InSecureMemory(blocks[0]));
      for (void* block : blocks) c().free(block);
    }
  }
  for (int i = 0; i < kImpossibleSizes; ++i) {
    errno = 0;
    EXPECT_EQ(c().aligned_alloc(64, impossible_sizes(i)), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST_F(Preloaded, MemalignRoundsTheAlignmentUpToAPowerOfTwo) {
  struct Row {
    std::size_t asked;
    std::size_t expected;
  };
  for (const Row row : {Row{24, 32}, Row{0, 1}, Row{3, 4}, Row{48, 64}, Row{12288, 16384}, Row{64, 64}}) {
    // Several blocks live at once: one block may be aligned by chance.
    void* blocks[kLiveBlocks];
    for (void*& block : blocks) {
      block = c().memalign(row.asked, 100);
      ASSERT_NE(block, nullptr) << "memalign(" << row.asked << ", 100)";
      EXPECT_TRUE(aligned(block, row.expected)) << block << " from memalign(" << row.asked << ", 100)";
      EXPECT_TRUE(InSecureMemory(block));
    }
    for (void* block : blocks) c().free(block);
  }
  for (int i = 0; i < kImpossibleSizes; ++i) {
    errno = 0;
    EXPECT_EQ(c().memalign(64, impossible_sizes(i)), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

// glibc: an alignment above 2^63 cannot be a power of two, and is EINVAL;
// 2^63 itself is a power of two that no block can have: ENOMEM.
TEST_F(Preloaded, MemalignOfAnImpossibleAlignmentIsEinvalAsInGlibc) {
  for (std::size_t alignment : {SIZE_MAX, (std::size_t{1} << 63) + 1}) {
    errno = 0;
    EXPECT_EQ(c().memalign(alignment, 1), nullptr);
    EXPECT_EQ(errno, EINVAL) << "memalign(" << alignment << ", 1)";
    errno = 0;
    EXPECT_EQ(c().libc_memalign(alignment, 1), nullptr);
    EXPECT_EQ(errno, EINVAL) << "__libc_memalign(" << alignment << ", 1)";
  }
  errno = 0;
  EXPECT_EQ(c().memalign(std::size_t{1} << 63, 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST_F(Preloaded, VallocAndPvallocArePageAlignedAndPvallocRoundsToPages) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{5000}, std::size_t{100000}}) {
    void* blocks[kLiveBlocks];
    for (void*& block : blocks) {
      block = c().valloc(size);
      ASSERT_NE(block, nullptr) << "valloc(" << size << ")";
      EXPECT_TRUE(aligned(block, kPage)) << block;
      EXPECT_GE(c().malloc_usable_size(block), size);
    }
    EXPECT_TRUE(InSecureMemory(blocks[0]));
    for (void* block : blocks) c().free(block);
  }
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{4097}, std::size_t{100000}}) {
    void* blocks[kLiveBlocks];
    for (void*& block : blocks) {
      block = c().pvalloc(size);
      ASSERT_NE(block, nullptr) << "pvalloc(" << size << ")";
      EXPECT_TRUE(aligned(block, kPage)) << block;
      const std::size_t pages = size == 0 ? 1 : (size + kPage - 1) / kPage;
      const std::size_t usable = c().malloc_usable_size(block);
      EXPECT_GE(usable, pages * kPage) << "pvalloc(" << size << ")";
      EXPECT_EQ(usable % kPage, 0u) << "pvalloc(" << size << ") usable size " << usable;
    }
    EXPECT_TRUE(InSecureMemory(blocks[0]));
    for (void* block : blocks) c().free(block);
  }
}

TEST_F(Preloaded, VallocAndPvallocOfAnImpossibleSizeFailWithEnomem) {
  for (int i = 0; i < kImpossibleSizes; ++i) {
    errno = 0;
    EXPECT_EQ(c().valloc(impossible_sizes(i)), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(c().pvalloc(impossible_sizes(i)), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST_F(Preloaded, MallocUsableSizeCoversTheRequestAndIsZeroForNull) {
  for (std::size_t size : {0, 1, 15, 16, 17, 100, 1000, 4096, 16384, 16385, 100000, 3 << 20}) {
    void* block = c().malloc(size);
    ASSERT_NE(block, nullptr);
    if (size != 0) {
      EXPECT_TRUE(InSecureMemory(block));
    }
    EXPECT_GE(c().malloc_usable_size(block), size);
    c().free(block);
  }
  EXPECT_EQ(c().malloc_usable_size(nullptr), 0u);
}

TEST_F(Preloaded, GlibcInternalNamesServeSecureMemory) {
  std::vector<void*> blocks = {c().libc_malloc(100),       c().libc_calloc(10, 10),    c().libc_realloc(nullptr, 100),
                               c().libc_memalign(64, 100), c().libc_valloc(100),       c().libc_pvalloc(100)};
  void* aligned_block = nullptr;
  ASSERT_EQ(c().posix_memalign_internal(&aligned_block, 64, 100), 0);
  blocks.push_back(aligned_block);
  for (void* block : blocks) {
    ASSERT_NE(block, nullptr);
    EXPECT_TRUE(InSecureMemory(block));
  }
  blocks[2] = c().libc_realloc(blocks[2], 5000);
  ASSERT_NE(blocks[2], nullptr);
  EXPECT_TRUE(InSecureMemory(blocks[2]));
  for (void* block : blocks) c().libc_free(block);
}

// glibc's manual: a replacement free must preserve errno; programs (libuv
// among them) free between a failing call and reading its errno.
TEST_F(Preloaded, EveryFreeFunctionPreservesErrno) {
  struct Free {
    const char* name;
    void (*release)(void* block, std::size_t size);
  };
  static const Free frees[] = {
      {"free", [](void* block, std::size_t) { c().free(block); }},
      {"cfree", [](void* block, std::size_t) { c().cfree(block); }},
      {"__libc_free", [](void* block, std::size_t) { c().libc_free(block); }},
      {"free_sized", [](void* block, std::size_t size) { c().free_sized(block, size); }},
      {"free_aligned_sized", [](void* block, std::size_t size) { c().free_aligned_sized(block, 64, size); }},
      {"operator delete", [](void* block, std::size_t size) { ::operator delete(block, size); }},
  };
  for (const Free& f : frees) {
    // free_aligned_sized is only for aligned_alloc's blocks (C23).
    const bool needs_aligned = std::strcmp(f.name, "free_aligned_sized") == 0;
    const bool needs_new = std::strcmp(f.name, "operator delete") == 0;
    auto allocate = [&](std::size_t size) {
      if (needs_aligned) return c().aligned_alloc(64, size);
      if (needs_new) return ::operator new(size);
      return c().malloc(size);
    };
    for (std::size_t size : {std::size_t{48}, std::size_t{200 * 1024}}) {
      void* block = allocate(size);
      ASSERT_NE(block, nullptr);
      std::memset(block, 0xa5, size);
      errno = EINTR;
      f.release(block, size);
      EXPECT_EQ(errno, EINTR) << f.name << " of a " << size << "-byte block changed errno";
    }
    // A small block freed by a thread other than the one that allocated it.
    void* block = allocate(48);
    ASSERT_NE(block, nullptr);
    int after = 0;
    std::thread([&] {
      errno = EINTR;
      f.release(block, 48);
      after = errno;
    }).join();
    EXPECT_EQ(after, EINTR) << f.name << " of a block of another thread changed errno";
    errno = EINTR;
    f.release(nullptr, 0);
    EXPECT_EQ(errno, EINTR) << f.name << "(NULL) changed errno";
  }
}

// Frees that empty whole slabs close pages and give slabs back (mprotect,
// mmap): syscalls inside free, which must not leak their errno either.
TEST_F(Preloaded, FreeKeepsErrnoWhileItClosesAndReturnsPages) {
  std::vector<void*> blocks;
  for (int i = 0; i < 8192; ++i) {
    void* block = c().malloc(1000);
    ASSERT_NE(block, nullptr);
    std::memset(block, 0xa5, 1000);
    blocks.push_back(block);
  }
  int changed = 0;
  for (void* block : blocks) {
    errno = EINTR;
    c().free(block);
    changed += errno != EINTR;
  }
  EXPECT_EQ(changed, 0) << "of 8192 frees (8 MiB of 1000-byte blocks)";
}

/// vm.max_map_count, or 0 if unknown.
std::size_t max_map_count() {
  std::ifstream file("/proc/sys/vm/max_map_count");
  std::size_t count = 0;
  file >> count;
  return count;
}

/// Filling the mapping table costs about 200 bytes of kernel memory per
/// mapping: fine for Debian's 65,530, not for a limit raised to millions.
constexpr std::size_t kMaxMappingsToFill = 1100000;

/// Fills this process's mapping table: single pages of alternating
/// protection never merge, one mapping each, until the kernel refuses one
/// more (vm.max_map_count). For forked children only.
bool fill_mapping_table() {
  std::size_t filled = 0;
  for (;; ++filled) {
    const int protection = filled % 2 == 0 ? PROT_READ : PROT_NONE;
    if (::mmap(nullptr, kPage, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
  }
  return errno == ENOMEM && filled >= 1000;
}

/// 8192 blocks of 1000 bytes (64 slabs of the 1 KiB class), filled. The
/// list itself is static: freeing a heap-allocated list would be a large
/// free of its own.
constexpr std::size_t kThousandByteBlocks = 8192;
void* g_thousand_byte_blocks[kThousandByteBlocks];
bool allocate_thousand_byte_blocks() {
  for (void*& block : g_thousand_byte_blocks) {
    block = c().malloc(1000);
    if (block == nullptr) return false;
    std::memset(block, 0xa5, 1000);
  }
  return true;
}

// At vm.max_map_count the kernel refuses to split a mapping: the mprotect a
// free makes to close the pages it emptied fails with ENOMEM. free must keep
// errno even then. One block in eight stays allocated, so that every other
// page empties (a split each time) but no slab does (no slab is given back).
TEST_F(Preloaded, FreeKeepsErrnoWhenItsSyscallsFailAtTheMappingLimit) {
  if (max_map_count() == 0 || max_map_count() > kMaxMappingsToFill) {
    GTEST_SKIP() << "vm.max_map_count is " << max_map_count() << ": too many mappings to fill";
  }
  const auto result = secbits::test::run_in_child([] {
    if (!allocate_thousand_byte_blocks()) return 2;
    if (!fill_mapping_table()) return 3;
    int changed = 0;
    int last = 0;
    for (std::size_t i = 0; i < kThousandByteBlocks; ++i) {
      if (i % 8 == 0) continue;
      errno = EINTR;
      c().free(g_thousand_byte_blocks[i]);
      if (errno != EINTR) {
        ++changed;
        last = errno;
      }
    }
    if (changed != 0) {
      std::printf("%d of 7168 frees changed errno (last to %s) with the mapping table full\n", changed,
                  std::strerror(last));
      return 1;
    }
    return 0;
  });
  EXPECT_TRUE(result.exited) << "killed by signal " << result.term_signal << ": " << result.output;
  EXPECT_EQ(result.exit_code, 0) << "(2: malloc failed, 3: the mapping table did not fill) " << result.output;
}

// The same limit when whole slabs empty: giving a slab back to the
// reservation needs the kernel too. free() of a valid block must not take
// the process down; the pages are wiped already and may stay as they are.
TEST_F(Preloaded, FreeOfValidBlocksDoesNotAbortAtTheMappingLimit) {
  if (max_map_count() == 0 || max_map_count() > kMaxMappingsToFill) {
    GTEST_SKIP() << "vm.max_map_count is " << max_map_count() << ": too many mappings to fill";
  }
  const auto result = secbits::test::run_in_child([] {
    if (!allocate_thousand_byte_blocks()) return 2;
    if (!fill_mapping_table()) return 3;
    for (void* block : g_thousand_byte_blocks) c().free(block);
    return 0;
  });
  EXPECT_TRUE(result.exited) << "free() of valid blocks killed the process (signal " << result.term_signal
                             << "): " << result.output;
  EXPECT_EQ(result.exit_code, 0) << "(2: malloc failed, 3: the mapping table did not fill) " << result.output;
}

// The eight operator new forms; the aligned ones with an alignment above
// the default (64) and above a page (8192).
TEST_F(Preloaded, EveryOperatorNewFormAllocatesAlignedSecureMemory) {
  for (std::size_t size : {std::size_t{1}, std::size_t{100}, std::size_t{100000}}) {
    void* blocks[] = {::operator new(size), ::operator new[](size), ::operator new(size, std::nothrow),
                      ::operator new[](size, std::nothrow)};
    for (void* block : blocks) {
      ASSERT_NE(block, nullptr);
      EXPECT_TRUE(aligned(block, __STDCPP_DEFAULT_NEW_ALIGNMENT__)) << block;
      EXPECT_TRUE(InSecureMemory(block)) << "size " << size;
    }
    ::operator delete(blocks[0], size);
    ::operator delete[](blocks[1], size);
    ::operator delete(blocks[2], std::nothrow);
    ::operator delete[](blocks[3], std::nothrow);
    for (std::size_t alignment : {std::size_t{64}, std::size_t{8192}}) {
      const std::align_val_t align{alignment};
      void* aligned_blocks[] = {::operator new(size, align), ::operator new[](size, align),
                                ::operator new(size, align, std::nothrow), ::operator new[](size, align, std::nothrow)};
      for (void* block : aligned_blocks) {
        ASSERT_NE(block, nullptr);
        EXPECT_TRUE(aligned(block, alignment)) << block << " for alignment " << alignment;
        EXPECT_TRUE(InSecureMemory(block)) << "size " << size << ", alignment " << alignment;
      }
      ::operator delete(aligned_blocks[0], size, align);
      ::operator delete[](aligned_blocks[1], size, align);
      ::operator delete(aligned_blocks[2], align, std::nothrow);
      ::operator delete[](aligned_blocks[3], align, std::nothrow);
    }
  }
}

// Each of the twelve delete forms really frees: the block is wiped (small)
// or no longer readable (large) right after it.
TEST_F(Preloaded, EveryOperatorDeleteFormFreesAndWipes) {
  struct Form {
    const char* name;
    bool aligned;
    void (*release)(void* block, std::size_t size, std::align_val_t alignment);
  };
  static const Form forms[] = {
      {"delete(p)", false, [](void* p, std::size_t, std::align_val_t) { ::operator delete(p); }},
      {"delete[](p)", false, [](void* p, std::size_t, std::align_val_t) { ::operator delete[](p); }},
      {"delete(p, n)", false, [](void* p, std::size_t n, std::align_val_t) { ::operator delete(p, n); }},
      {"delete[](p, n)", false, [](void* p, std::size_t n, std::align_val_t) { ::operator delete[](p, n); }},
      {"delete(p, al)", true, [](void* p, std::size_t, std::align_val_t al) { ::operator delete(p, al); }},
      {"delete[](p, al)", true, [](void* p, std::size_t, std::align_val_t al) { ::operator delete[](p, al); }},
      {"delete(p, n, al)", true, [](void* p, std::size_t n, std::align_val_t al) { ::operator delete(p, n, al); }},
      {"delete[](p, n, al)", true, [](void* p, std::size_t n, std::align_val_t al) { ::operator delete[](p, n, al); }},
      {"delete(p, nothrow)", false, [](void* p, std::size_t, std::align_val_t) { ::operator delete(p, std::nothrow); }},
      {"delete[](p, nothrow)", false,
       [](void* p, std::size_t, std::align_val_t) { ::operator delete[](p, std::nothrow); }},
      {"delete(p, al, nothrow)", true,
       [](void* p, std::size_t, std::align_val_t al) { ::operator delete(p, al, std::nothrow); }},
      {"delete[](p, al, nothrow)", true,
       [](void* p, std::size_t, std::align_val_t al) { ::operator delete[](p, al, std::nothrow); }},
  };
  static_assert(std::size(forms) == 12);
  const std::align_val_t alignment{64};
  for (const Form& form : forms) {
    for (std::size_t size : {std::size_t{200}, std::size_t{100000}}) {
      void* block = form.aligned ? ::operator new(size, alignment) : ::operator new(size);
      ASSERT_NE(block, nullptr);
      std::memset(block, 0xa5, size);
      form.release(block, size, alignment);
      EXPECT_EQ(observe(block, size).nonzero, 0u) << form.name << " of " << size << " bytes left them readable";
    }
  }
}

TEST_F(Preloaded, NothrowNewOfAnImpossibleSizeReturnsNull) {
  for (int i = 0; i < kImpossibleSizes; ++i) {
    const std::size_t size = impossible_sizes(i);
    EXPECT_EQ(::operator new(size, std::nothrow), nullptr) << size;
    EXPECT_EQ(::operator new[](size, std::nothrow), nullptr) << size;
    for (std::size_t alignment : {std::size_t{64}, std::size_t{8192}}) {
      EXPECT_EQ(::operator new(size, std::align_val_t{alignment}, std::nothrow), nullptr) << size;
      EXPECT_EQ(::operator new[](size, std::align_val_t{alignment}, std::nothrow), nullptr) << size;
    }
  }
}

TEST_F(Preloaded, ThrowingNewOfAnImpossibleSizeThrowsBadAlloc) {
  for (int i = 0; i < kImpossibleSizes; ++i) {
    const std::size_t size = impossible_sizes(i);
    EXPECT_THROW((void)::operator new(size), std::bad_alloc) << size;
    EXPECT_THROW((void)::operator new[](size), std::bad_alloc) << size;
    for (std::size_t alignment : {std::size_t{64}, std::size_t{8192}}) {
      EXPECT_THROW((void)::operator new(size, std::align_val_t{alignment}), std::bad_alloc) << size;
      EXPECT_THROW((void)::operator new[](size, std::align_val_t{alignment}), std::bad_alloc) << size;
    }
  }
}

int g_handler_calls = 0;

TEST_F(Preloaded, ThrowingNewCallsTheNewHandlerBeforeThrowing) {
  g_handler_calls = 0;
  std::set_new_handler([] {
    ++g_handler_calls;
    std::set_new_handler(nullptr);  // no memory to free: let the next failure throw
  });
  EXPECT_THROW((void)::operator new(impossible_sizes(2)), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 1);
  std::set_new_handler(nullptr);
}

}  // namespace
