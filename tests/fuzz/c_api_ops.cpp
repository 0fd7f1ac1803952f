// Random sequences of the C API on one thread. The target holds up to 16
// blocks in numbered slots and any number in a bulk list (enough to fill and
// empty whole slabs), each carrying a pattern; it checks every block the pool
// hands out (owned, aligned, big enough, zero), every block's content before
// it is freed or moved, that a freed block can no longer be read back, the
// C rules' failures, and the statistics against the blocks it holds.
//
// Input: a sequence of operations, each an opcode byte then its arguments
// (see `run`); sizes and alignments as in harness/draw.hpp.
#include <secbits/secbits.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "harness/block.hpp"
#include "harness/check.hpp"
#include "harness/draw.hpp"
#include "harness/input.hpp"
#include "harness/pool_probe.hpp"

namespace {

using namespace secbits::fuzz;

constexpr std::size_t kSlots = 16;
constexpr std::size_t kMaxOperations = 512;
// Enough blocks of the smallest class to fill two slabs; bulk blocks are
// small blocks, and all of them together stay within 16 MiB.
constexpr std::size_t kMaxBulkBlocks = 16384;
constexpr std::size_t kMaxBulkBytes = std::size_t{16} << 20;
constexpr int kErrnoSentinel = 12345;

enum Operation : std::uint8_t {
  kMalloc,        // [slot, size]
  kCalloc,        // [slot, count, size] or, count byte % 8 == 7: an overflowing pair [slot, count, shift]
  kRealloc,       // [slot, size]: realloc(NULL, size) for an empty slot; size 0 frees
  kAlignedAlloc,  // [slot, alignment, size, odd]: odd % 8 == 0 makes the alignment invalid
  kFree,          // [slot]
  kInspect,       // [slot]: content, usable size, ownership
  kRewrite,       // [slot]: a new pattern
  kStats,         // []
  kProtection,    // [policy]
  kCollect,       // []
  kImpossible,    // [which, u64]: a request no pool can serve
  kBulkAlloc,     // [count u16, size]: the size modulo the largest class + 1
  kBulkFree,      // [stride, start]
  kOperationCount
};

class Target {
 public:
  void run(Input& in) {
    for (std::size_t done = 0; done < kMaxOperations && !in.empty(); ++done) {
      switch (static_cast<Operation>(in.byte() % kOperationCount)) {
        case kMalloc: {
          Block& slot = slots_[in.below(kSlots)];
          const std::size_t size = draw_size(in);
          place(slot, secbits_malloc(size), size, 0, "secbits_malloc");
          break;
        }
        case kCalloc:
          calloc(slots_[in.below(kSlots)], in);
          break;
        case kRealloc: {
          Block& slot = slots_[in.below(kSlots)];
          realloc(slot, draw_size(in));
          break;
        }
        case kAlignedAlloc:
          aligned_alloc(slots_[in.below(kSlots)], in);
          break;
        case kFree:
          release(slots_[in.below(kSlots)]);
          break;
        case kInspect:
          inspect(slots_[in.below(kSlots)]);
          break;
        case kRewrite: {
          Block& slot = slots_[in.below(kSlots)];
          if (!slot.empty()) {
            check_content(slot, slot.usable, "before a rewrite");
            slot = fill(slot.pointer, slot.usable, next_seed_++);
          }
          break;
        }
        case kStats:
          check_stats(bytes_held(), large_held());
          break;
        case kProtection:
          secbits_set_page_protection(static_cast<secbits_page_protection>(in.below(3)));
          break;
        case kCollect:
          secbits_collect();
          break;
        case kImpossible:
          impossible(in);
          break;
        case kBulkAlloc: {
          const std::size_t count = in.u16() % 4097;
          bulk_alloc(count, draw_size(in) % (secbits::pool::kMaxSmallSize + 1));
          break;
        }
        case kBulkFree: {
          const std::size_t stride = in.byte() % 8 + 1;
          bulk_free(stride, in.byte());
          break;
        }
        case kOperationCount:
          break;
      }
    }
    for (Block& slot : slots_) release(slot);
    bulk_free(1, 0);
    check_stats(0, 0);
  }

 private:
  void place(Block& slot, void* pointer, std::size_t size, std::size_t alignment, const char* operation) {
    SECBITS_FUZZ_CHECK(pointer != nullptr, "%s of %zu bytes (alignment %zu) failed: errno %d", operation, size,
                       alignment, errno);
    release(slot);
    const std::size_t usable = secbits_usable_size(pointer);
    check_fresh(pointer, usable, size, alignment, operation);
    slot = fill(pointer, usable, next_seed_++);
  }

  void release(Block& slot) {
    if (slot.empty()) {
      errno = kErrnoSentinel;
      secbits_free(nullptr);
      SECBITS_FUZZ_CHECK(errno == kErrnoSentinel, "secbits_free(NULL) changed errno to %d", errno);
      return;
    }
    check_content(slot, slot.usable, "before secbits_free");
    SECBITS_FUZZ_CHECK(secbits_usable_size(slot.pointer) == slot.usable, "usable size of %p changed from %zu to %zu",
                       slot.pointer, slot.usable, secbits_usable_size(slot.pointer));
    errno = kErrnoSentinel;
    secbits_free(slot.pointer);
    SECBITS_FUZZ_CHECK(errno == kErrnoSentinel, "secbits_free changed errno to %d", errno);
    check_wiped(slot.pointer, slot.usable);
    slot = Block{};
  }

  void calloc(Block& slot, Input& in) {
    const std::uint8_t kind = in.byte();
    if (kind % 8 == 7) {
      // count * size is at least 2^64 for every shift below 32.
      const unsigned shift = in.byte() % 32;
      const std::size_t count = SIZE_MAX >> shift;
      const std::size_t size = (std::size_t{1} << shift) + 1;
      errno = 0;
      expect_out_of_memory(secbits_calloc(count, size), "secbits_calloc overflowing");
      return;
    }
    const std::size_t count = kind % 17;
    const std::size_t size = draw_size(in);
    if (count * size > 4 * kMaxOrdinarySize) return;
    place(slot, secbits_calloc(count, size), count * size, 0, "secbits_calloc");
  }

  void realloc(Block& slot, std::size_t size) {
    if (slot.empty()) {
      place(slot, secbits_realloc(nullptr, size), size, 0, "secbits_realloc(NULL)");
      return;
    }
    check_content(slot, slot.usable, "before secbits_realloc");
    const Block old = slot;
    void* moved = secbits_realloc(old.pointer, size);
    if (size == 0) {
      // glibc's rule: the block is freed and the result is null.
      SECBITS_FUZZ_CHECK(moved == nullptr, "secbits_realloc(p, 0) returned %p", moved);
      check_wiped(old.pointer, old.usable);
      slot = Block{};
      return;
    }
    SECBITS_FUZZ_CHECK(moved != nullptr, "secbits_realloc to %zu bytes failed: errno %d", size, errno);
    const std::size_t usable = secbits_usable_size(moved);
    SECBITS_FUZZ_CHECK(usable >= size, "secbits_realloc to %zu bytes: usable size %zu", size, usable);
    SECBITS_FUZZ_CHECK(is_aligned(moved, kMinimumAlignment), "secbits_realloc gave %p", moved);
    const Block kept{moved, usable, old.seed};
    check_content(kept, std::min(old.usable, size), "after secbits_realloc");
    if (moved != old.pointer) check_wiped(old.pointer, old.usable);
    slot = fill(moved, usable, old.seed);
  }

  void aligned_alloc(Block& slot, Input& in) {
    std::size_t alignment = draw_alignment(in);
    const std::size_t size = draw_size(in);
    if (in.byte() % 8 == 0) {
      alignment = alignment == 1 ? 0 : alignment + alignment / 2;  // 0 or not a power of two
      errno = 0;
      SECBITS_FUZZ_CHECK(secbits_aligned_alloc(alignment, size) == nullptr && errno == EINVAL,
                         "secbits_aligned_alloc(%zu, %zu) did not fail with EINVAL", alignment, size);
      return;
    }
    place(slot, secbits_aligned_alloc(alignment, size), size, alignment, "secbits_aligned_alloc");
  }

  void inspect(const Block& slot) {
    SECBITS_FUZZ_CHECK(secbits_usable_size(nullptr) == 0, "secbits_usable_size(NULL) is not 0");
    SECBITS_FUZZ_CHECK(secbits_owns(&slot) == 0, "secbits_owns says the pool owns the stack");
    if (slot.empty()) return;
    SECBITS_FUZZ_CHECK(secbits_owns(slot.pointer) == 1, "secbits_owns(%p) is 0 for a live block", slot.pointer);
    SECBITS_FUZZ_CHECK(secbits_usable_size(slot.pointer) == slot.usable, "usable size of %p changed", slot.pointer);
    check_content(slot, slot.usable, "on inspection");
  }

  /// Requests beyond any reservation: null, ENOMEM, and nothing held changes.
  void impossible(Input& in) {
    const unsigned which = in.below(4);
    const std::size_t size = kImpossibleSize + in.u64() % (SIZE_MAX - kImpossibleSize + 1);
    errno = 0;
    switch (which) {
      case 0:
        expect_out_of_memory(secbits_malloc(size), "secbits_malloc");
        break;
      case 1:
        expect_out_of_memory(secbits_calloc(1, size), "secbits_calloc");
        break;
      case 2:
        expect_out_of_memory(secbits_aligned_alloc(std::size_t{1} << (in.byte() % 21), size), "secbits_aligned_alloc");
        break;
      default: {
        Block& slot = slots_[in.below(kSlots)];
        if (slot.empty()) break;
        expect_out_of_memory(secbits_realloc(slot.pointer, size), "secbits_realloc");
        check_content(slot, slot.usable, "after a failed secbits_realloc");
        break;
      }
    }
  }

  void expect_out_of_memory(void* pointer, const char* operation) {
    SECBITS_FUZZ_CHECK(pointer == nullptr && errno == ENOMEM, "%s of an impossible size gave %p, errno %d", operation,
                       pointer, errno);
  }

  void bulk_alloc(std::size_t count, std::size_t size) {
    for (std::size_t i = 0; i < count && bulk_.size() < kMaxBulkBlocks && bulk_bytes_ + size <= kMaxBulkBytes; ++i) {
      void* pointer = secbits_malloc(size);
      SECBITS_FUZZ_CHECK(pointer != nullptr, "bulk secbits_malloc of %zu bytes failed: errno %d", size, errno);
      const std::size_t usable = secbits_usable_size(pointer);
      check_fresh(pointer, usable, size, 0, "bulk secbits_malloc");
      bulk_.push_back(fill(pointer, usable, next_seed_++));
      bulk_bytes_ += usable;
    }
  }

  /// Frees every `stride`-th bulk block from `start`: holes across slabs.
  void bulk_free(std::size_t stride, std::size_t start) {
    std::vector<Block> kept;
    for (std::size_t i = 0; i < bulk_.size(); ++i) {
      if (i < start || (i - start) % stride != 0) {
        kept.push_back(bulk_[i]);
        continue;
      }
      check_content(bulk_[i], bulk_[i].usable, "before a bulk free");
      secbits_free(bulk_[i].pointer);
      bulk_bytes_ -= bulk_[i].usable;
    }
    bulk_ = std::move(kept);
  }

  std::size_t bytes_held() const {
    std::size_t bytes = 0;
    for (const Block& block : slots_) bytes += block.usable;
    for (const Block& block : bulk_) bytes += block.usable;
    return bytes;
  }

  std::size_t large_held() const {
    std::size_t count = 0;
    for (const Block& block : slots_) count += !block.empty() && is_large_block(block.pointer);
    for (const Block& block : bulk_) count += is_large_block(block.pointer);
    return count;
  }

  std::array<Block, kSlots> slots_{};
  std::vector<Block> bulk_;
  std::size_t bulk_bytes_ = 0;
  std::uint64_t next_seed_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Without CAP_IPC_LOCK, RLIMIT_MEMLOCK (8 MiB on Debian) would make ordinary
  // requests fail; degraded memory is still counted (bytes_unlocked).
  secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Each input starts from the default policy, whatever the last one chose.
  secbits_set_page_protection(SECBITS_PROTECT_CACHED);
  Input in(data, size);
  Target target;
  target.run(in);
  return 0;
}
