// The C API from two or three threads at once, with blocks handed between
// them so that frees and reallocs happen on a thread other than the one that
// allocated the block (the pool's remote frees, collected later by the owner).
//
// The run is deterministic given the input: each thread runs its own script,
// in rounds of kOperationsPerRound operations separated by a barrier; a block
// sent during a round is delivered to its new thread at the barrier. Which
// thread allocates, frees or reallocates each block is therefore fixed by
// the input; only the interleaving within a round is left to the scheduler.
// Every block carries a pattern, checked when it arrives, before it is freed
// or moved, and after a realloc. At the end every thread frees what it holds;
// once all have exited the statistics must show nothing in use.
//
// Input: [threads] then operations [thread, opcode, slot, arguments...].
#include <secbits/secbits.h>

#include <array>
#include <barrier>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "harness/block.hpp"
#include "harness/check.hpp"
#include "harness/draw.hpp"
#include "harness/input.hpp"
#include "harness/pool_probe.hpp"

namespace {

using namespace secbits::fuzz;

constexpr unsigned kMaxThreads = 3;
constexpr std::size_t kSlots = 8;
constexpr std::size_t kOperationsPerRound = 8;
constexpr std::size_t kMaxOperations = 384;

enum Opcode : std::uint8_t {
  kMalloc,        // [size]
  kCalloc,        // [count, size]
  kAlignedAlloc,  // [alignment, size]
  kRealloc,       // [size]: size 0 frees
  kFree,          // []
  kCheck,         // []
  kSend,          // [which]: to the thread `which` places after this one
  kCollect,       // []
  kStats,         // []: a snapshot while other threads run; nothing to compare it with
  kOpcodeCount
};

struct Operation {
  Opcode opcode;
  std::uint8_t slot;
  std::uint8_t which;
  std::size_t count;
  std::size_t size;
  std::size_t alignment;
};

Operation decode(Input& in) {
  Operation operation{};
  operation.opcode = static_cast<Opcode>(in.byte() % kOpcodeCount);
  operation.slot = static_cast<std::uint8_t>(in.below(kSlots));
  switch (operation.opcode) {
    case kMalloc:
    case kRealloc:
      operation.size = draw_size(in);
      break;
    case kCalloc:
      operation.count = in.byte() % 9;
      operation.size = draw_size(in);
      break;
    case kAlignedAlloc:
      operation.alignment = draw_alignment(in);
      operation.size = draw_size(in);
      break;
    case kSend:
      operation.which = in.byte();
      break;
    default:
      break;
  }
  return operation;
}

class Worker {
 public:
  Worker(unsigned index, unsigned threads) : index_(index), threads_(threads) {}

  std::vector<Operation> script;
  std::vector<Block> inbox;                            // written at the barrier only
  std::array<std::vector<Block>, kMaxThreads> outbox;  // to each thread, this round

  void run_round(std::size_t round) {
    receive();
    for (std::size_t i = round * kOperationsPerRound; i < (round + 1) * kOperationsPerRound && i < script.size(); ++i) {
      execute(script[i]);
    }
  }

  void finish() {
    receive();
    for (Block& slot : slots_) release(slot);
  }

 private:
  void execute(const Operation& operation) {
    Block& slot = slots_[operation.slot];
    switch (operation.opcode) {
      case kMalloc:
        place(slot, secbits_malloc(operation.size), operation.size, 0, "secbits_malloc");
        break;
      case kCalloc:
        place(slot, secbits_calloc(operation.count, operation.size), operation.count * operation.size, 0,
              "secbits_calloc");
        break;
      case kAlignedAlloc:
        place(slot, secbits_aligned_alloc(operation.alignment, operation.size), operation.size, operation.alignment,
              "secbits_aligned_alloc");
        break;
      case kRealloc:
        realloc(slot, operation.size);
        break;
      case kFree:
        release(slot);
        break;
      case kCheck:
        if (!slot.empty()) check_content(slot, slot.usable, "on inspection");
        break;
      case kSend:
        if (!slot.empty() && threads_ > 1) {
          const unsigned to = (index_ + 1 + operation.which % (threads_ - 1)) % threads_;
          outbox[to].push_back(slot);
          slot = Block{};
        }
        break;
      case kCollect:
        secbits_collect();
        break;
      case kStats: {
        struct secbits_stats stats {};
        secbits_stats(&stats);
        break;
      }
      case kOpcodeCount:
        break;
    }
  }

  /// Blocks other threads sent: checked, then kept in a free slot or freed
  /// here, on a thread that did not allocate them.
  void receive() {
    for (Block& block : inbox) {
      check_content(block, block.usable, "on arrival from another thread");
      Block* free_slot = nullptr;
      for (Block& slot : slots_) {
        if (slot.empty()) {
          free_slot = &slot;
          break;
        }
      }
      if (free_slot != nullptr) {
        *free_slot = block;
      } else {
        release(block);
      }
    }
    inbox.clear();
  }

  void place(Block& slot, void* pointer, std::size_t size, std::size_t alignment, const char* operation) {
    SECBITS_FUZZ_CHECK(pointer != nullptr, "%s of %zu bytes (alignment %zu) failed: errno %d", operation, size,
                       alignment, errno);
    release(slot);
    const std::size_t usable = secbits_usable_size(pointer);
    check_fresh(pointer, usable, size, alignment, operation);
    slot = fill(pointer, usable, next_seed());
  }

  void realloc(Block& slot, std::size_t size) {
    if (slot.empty()) {
      place(slot, secbits_realloc(nullptr, size), size, 0, "secbits_realloc(NULL)");
      return;
    }
    check_content(slot, slot.usable, "before secbits_realloc");
    void* moved = secbits_realloc(slot.pointer, size);
    if (size == 0) {
      SECBITS_FUZZ_CHECK(moved == nullptr, "secbits_realloc(p, 0) returned %p", moved);
      slot = Block{};
      return;
    }
    SECBITS_FUZZ_CHECK(moved != nullptr, "secbits_realloc to %zu bytes failed: errno %d", size, errno);
    const std::size_t usable = secbits_usable_size(moved);
    SECBITS_FUZZ_CHECK(usable >= size, "secbits_realloc to %zu bytes: usable size %zu", size, usable);
    check_content(Block{moved, usable, slot.seed}, std::min(slot.usable, size), "after secbits_realloc");
    slot = fill(moved, usable, slot.seed);
  }

  void release(Block& slot) {
    if (slot.empty()) return;
    check_content(slot, slot.usable, "before secbits_free");
    secbits_free(slot.pointer);
    slot = Block{};
  }

  std::uint64_t next_seed() { return (std::uint64_t{index_} << 48) | ++seeds_; }

  unsigned index_;
  unsigned threads_;
  std::array<Block, kSlots> slots_{};
  std::uint64_t seeds_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // As in c_api_ops: ordinary requests must not fail for want of CAP_IPC_LOCK.
  secbits_set_lock_policy(SECBITS_LOCK_DEGRADE);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const unsigned threads = 2 + in.below(kMaxThreads - 1);
  std::vector<Worker> workers;
  for (unsigned index = 0; index < threads; ++index) workers.emplace_back(index, threads);
  std::size_t longest = 0;
  for (std::size_t done = 0; done < kMaxOperations && !in.empty(); ++done) {
    Worker& worker = workers[in.below(threads)];
    worker.script.push_back(decode(in));
    longest = std::max(longest, worker.script.size());
  }
  const std::size_t rounds = (longest + kOperationsPerRound - 1) / kOperationsPerRound;

  // Runs alone, between rounds: what was sent in a round arrives for the next.
  auto deliver = [&workers]() noexcept {
    for (Worker& from : workers) {
      for (std::size_t to = 0; to < workers.size(); ++to) {
        workers[to].inbox.insert(workers[to].inbox.end(), from.outbox[to].begin(), from.outbox[to].end());
        from.outbox[to].clear();
      }
    }
  };
  std::barrier sync(static_cast<std::ptrdiff_t>(threads), deliver);
  std::vector<std::thread> running;
  for (Worker& worker : workers) {
    running.emplace_back([&worker, &sync, rounds] {
      for (std::size_t round = 0; round < rounds; ++round) {
        worker.run_round(round);
        sync.arrive_and_wait();
      }
      worker.finish();
    });
  }
  for (std::thread& thread : running) thread.join();

  // Every block is freed and every thread gone: the heaps' counts, owners'
  // and remote frees' together, must come back to nothing.
  secbits_collect();
  check_stats(0, 0);
  return 0;
}
