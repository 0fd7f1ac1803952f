// The interposer's C semantics, with hostile arguments. The interposer
// itself cannot run under AddressSanitizer (both replace malloc), so this
// drives secbits::pool::PoolC, CRules over the pool: the very code behind the
// interposer's malloc family in whole-process mode. The rules checked are
// glibc's, as README.md and src/pool/c_rules.hpp state them:
//   - failure is null with errno ENOMEM; a size no reservation can hold
//     always fails, an ordinary request (a few MiB, alignment up to 1 MiB)
//     never does;
//   - calloc and reallocarray overflowing count * size: ENOMEM;
//   - realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns null;
//     a failed realloc leaves p live and unchanged;
//   - posix_memalign: EINVAL for an alignment that is not a power of two
//     multiple of sizeof(void*), returned with *result and errno untouched;
//     ENOMEM returned with *result untouched;
//   - aligned_alloc: EINVAL for 0 or not a power of two (C17, no size rule);
//   - memalign: any alignment, rounded up to a power of two;
//   - valloc: page-aligned; pvalloc: page-aligned, the size rounded up to
//     whole pages (0 gives a page);
//   - free keeps errno; free(NULL) and malloc_usable_size(NULL) are no-ops.
//
// Input: operations, each an opcode byte then its arguments (see `run`).
#include <secbits/secbits.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "harness/block.hpp"
#include "harness/check.hpp"
#include "harness/draw.hpp"
#include "harness/input.hpp"
#include "pool/pool_heap.hpp"

namespace {

using namespace secbits::fuzz;
using secbits::pool::PoolC;

constexpr std::size_t kSlots = 16;
constexpr std::size_t kMaxOperations = 256;
constexpr int kErrnoSentinel = 4242;
constexpr std::size_t kPage = secbits::pool::kPageSize;

enum Opcode : std::uint8_t {
  kMalloc,         // [slot, size]
  kCalloc,         // [slot, count, size]
  kRealloc,        // [slot, null, size]: realloc(NULL, size) when `null` is odd or the slot empty
  kReallocArray,   // [slot, null, count, size]
  kPosixMemalign,  // [slot, alignment, size]
  kAlignedAlloc,   // [slot, alignment, size]
  kMemalign,       // [slot, alignment, size]
  kValloc,         // [slot, size]
  kPvalloc,        // [slot, size]
  kFree,           // [slot]
  kUsableSize,     // [slot]
  kOpcodeCount
};

/// A count for calloc and reallocarray: small, or one that overflows with
/// most sizes. [kind, value]
std::size_t draw_count(Input& in) {
  static constexpr std::size_t kEdges[] = {
      0, 1, 2, 3, SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 2 + 1, std::size_t{1} << 32, std::size_t{1} << 48};
  const unsigned kind = in.byte() % 4;
  if (kind < 3) return in.byte() % 17;
  return kEdges[in.byte() % std::size(kEdges)];
}

/// Requests that must succeed: the pool has no reason to refuse them.
bool ordinary(std::size_t size, std::size_t alignment = 1) {
  return size <= 4 * kMaxOrdinarySize && effective_alignment(alignment) <= kMaxOrdinaryAlignment;
}

class Target {
 public:
  void run(Input& in) {
    for (std::size_t done = 0; done < kMaxOperations && !in.empty(); ++done) {
      const auto opcode = static_cast<Opcode>(in.byte() % kOpcodeCount);
      Block& slot = slots_[in.below(kSlots)];
      switch (opcode) {
        case kMalloc: {
          const std::size_t size = draw_hostile_size(in);
          errno = 0;
          result(slot, PoolC::malloc(size), size, 1, "malloc");
          break;
        }
        case kCalloc: {
          const std::size_t count = draw_count(in);
          const std::size_t size = draw_hostile_size(in);
          std::size_t total = 0;
          const bool overflows = __builtin_mul_overflow(count, size, &total);
          if (!overflows && !affordable_size(total)) break;
          errno = 0;
          void* block = PoolC::calloc(count, size);
          if (overflows) {
            SECBITS_FUZZ_CHECK(block == nullptr && errno == ENOMEM, "calloc(%zu, %zu) overflowing gave %p, errno %d",
                               count, size, block, errno);
            break;
          }
          result(slot, block, total, 1, "calloc");
          break;
        }
        case kRealloc: {
          const bool null = in.byte() % 2 == 1;
          const std::size_t size = draw_hostile_size(in);
          realloc(slot, null, false, 1, size);
          break;
        }
        case kReallocArray: {
          const bool null = in.byte() % 2 == 1;
          const std::size_t count = draw_count(in);
          const std::size_t size = draw_hostile_size(in);
          realloc(slot, null, true, count, size);
          break;
        }
        case kPosixMemalign: {
          const std::size_t alignment = draw_hostile_alignment(in);
          posix_memalign(slot, alignment, draw_hostile_size(in));
          break;
        }
        case kAlignedAlloc: {
          const std::size_t alignment = draw_hostile_alignment(in);
          const std::size_t size = draw_hostile_size(in);
          errno = 0;
          void* block = PoolC::aligned_alloc(alignment, size);
          if (!std::has_single_bit(alignment)) {
            SECBITS_FUZZ_CHECK(block == nullptr && errno == EINVAL, "aligned_alloc(%zu, %zu) gave %p, errno %d",
                               alignment, size, block, errno);
            break;
          }
          result(slot, block, size, alignment, "aligned_alloc");
          break;
        }
        case kMemalign: {
          const std::size_t alignment = draw_hostile_alignment(in);
          memalign(slot, alignment, draw_hostile_size(in));
          break;
        }
        case kValloc: {
          const std::size_t size = draw_hostile_size(in);
          errno = 0;
          result(slot, PoolC::valloc(size), size, kPage, "valloc");
          break;
        }
        case kPvalloc:
          pvalloc(slot, draw_hostile_size(in));
          break;
        case kFree:
          release(slot);
          break;
        case kUsableSize:
          SECBITS_FUZZ_CHECK(PoolC::usable_size(nullptr) == 0, "malloc_usable_size(NULL) is not 0");
          if (!slot.empty()) {
            SECBITS_FUZZ_CHECK(PoolC::usable_size(slot.pointer) == slot.usable, "usable size of %p changed",
                               slot.pointer);
            check_content(slot, slot.usable, "on inspection");
          }
          break;
        case kOpcodeCount:
          break;
      }
    }
    for (Block& slot : slots_) release(slot);
  }

 private:
  /// The outcome of an allocation of `size` bytes aligned to `alignment`.
  void result(Block& slot, void* block, std::size_t size, std::size_t alignment, const char* operation) {
    if (block == nullptr) {
      SECBITS_FUZZ_CHECK(errno == ENOMEM, "%s(%zu, alignment %zu) failed with errno %d", operation, size, alignment,
                         errno);
      SECBITS_FUZZ_CHECK(!ordinary(size, alignment), "%s(%zu, alignment %zu) failed", operation, size, alignment);
      return;
    }
    SECBITS_FUZZ_CHECK(size < kImpossibleSize, "%s(%zu) succeeded", operation, size);
    const std::size_t usable = PoolC::usable_size(block);
    check_fresh(block, usable, size, effective_alignment(alignment), operation);
    release(slot);
    slot = fill(block, usable, next_seed_++);
  }

  void release(Block& slot) {
    if (!slot.empty()) check_content(slot, slot.usable, "before free");
    errno = kErrnoSentinel;
    PoolC::free(slot.pointer);
    SECBITS_FUZZ_CHECK(errno == kErrnoSentinel, "free changed errno to %d", errno);
    slot = Block{};
  }

  /// realloc(p, size), or reallocarray(p, count, size).
  void realloc(Block& slot, bool null, bool array, std::size_t count, std::size_t size) {
    std::size_t total = 0;
    const bool overflows = __builtin_mul_overflow(count, size, &total);
    if (!overflows && !affordable_size(total)) return;
    const char* operation = array ? "reallocarray" : "realloc";
    if (null || slot.empty()) {
      errno = 0;
      void* block = array ? PoolC::reallocarray(nullptr, count, size) : PoolC::realloc(nullptr, size);
      if (overflows) {
        SECBITS_FUZZ_CHECK(block == nullptr && errno == ENOMEM, "reallocarray(NULL, %zu, %zu) gave %p, errno %d", count,
                           size, block, errno);
        return;
      }
      result(slot, block, total, 1, operation);  // as malloc(total), realloc(NULL, 0) included
      return;
    }
    check_content(slot, slot.usable, "before realloc");
    errno = 0;
    void* block = array ? PoolC::reallocarray(slot.pointer, count, size) : PoolC::realloc(slot.pointer, size);
    if (!overflows && total == 0) {
      SECBITS_FUZZ_CHECK(block == nullptr, "%s(p, 0) returned %p", operation, block);
      slot = Block{};  // freed
      return;
    }
    if (block == nullptr) {
      SECBITS_FUZZ_CHECK(errno == ENOMEM, "%s(p, %zu x %zu) failed with errno %d", operation, count, size, errno);
      SECBITS_FUZZ_CHECK(overflows || !ordinary(total), "%s(p, %zu) failed", operation, total);
      SECBITS_FUZZ_CHECK(PoolC::usable_size(slot.pointer) == slot.usable, "a failed %s resized the block", operation);
      check_content(slot, slot.usable, "after a failed realloc");
      return;
    }
    SECBITS_FUZZ_CHECK(!overflows && total < kImpossibleSize, "%s(p, %zu x %zu) succeeded", operation, count, size);
    const std::size_t usable = PoolC::usable_size(block);
    SECBITS_FUZZ_CHECK(usable >= total && is_aligned(block, kMinimumAlignment), "%s(p, %zu) gave %p, usable %zu",
                       operation, total, block, usable);
    check_content(Block{block, usable, slot.seed}, std::min(slot.usable, total), "after realloc");
    slot = fill(block, usable, slot.seed);
  }

  void posix_memalign(Block& slot, std::size_t alignment, std::size_t size) {
    void* block = &slot;  // any value: it must be left alone on failure
    errno = kErrnoSentinel;
    const int error = PoolC::posix_memalign(&block, alignment, size);
    if (!std::has_single_bit(alignment) || alignment % sizeof(void*) != 0) {
      SECBITS_FUZZ_CHECK(error == EINVAL && block == &slot && errno == kErrnoSentinel,
                         "posix_memalign(%zu, %zu): %d, result %p, errno %d", alignment, size, error, block, errno);
      return;
    }
    if (error != 0) {
      SECBITS_FUZZ_CHECK(error == ENOMEM && block == &slot, "posix_memalign(%zu, %zu): %d, result %p", alignment, size,
                         error, block);
      SECBITS_FUZZ_CHECK(!ordinary(size, alignment), "posix_memalign(%zu, %zu) failed", alignment, size);
      return;
    }
    result(slot, block, size, alignment, "posix_memalign");
  }

  void memalign(Block& slot, std::size_t alignment, std::size_t size) {
    errno = 0;
    void* block = PoolC::memalign(alignment, size);
    if (alignment > (std::size_t{1} << 63)) {
      // glibc: EINVAL, as no alignment that large can be.
      SECBITS_FUZZ_CHECK(block == nullptr, "memalign(%zu, %zu) gave %p", alignment, size, block);
      SECBITS_FUZZ_CHECK(errno == EINVAL, "memalign(%zu, %zu): errno %d", alignment, size, errno);
      return;
    }
    result(slot, block, size, alignment, "memalign");
  }

  void pvalloc(Block& slot, std::size_t size) {
    errno = 0;
    void* block = PoolC::pvalloc(size);
    const std::size_t pages = size > SIZE_MAX - (kPage - 1) ? SIZE_MAX : ((size + kPage - 1) & ~(kPage - 1));
    result(slot, block, pages == 0 ? kPage : pages, kPage, "pvalloc");
  }

  std::array<Block, kSlots> slots_{};
  std::uint64_t next_seed_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The interposer's default in whole-process mode; and ordinary requests
  // must not fail for want of CAP_IPC_LOCK.
  secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  Target target;
  target.run(in);
  return 0;
}
