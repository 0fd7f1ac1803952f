// mstress: two threads allocate and free blocks of mixed sizes at random
// (after mimalloc-bench's `mstress` and `xmalloc`): mostly small, some
// medium, a few large blocks of up to 1 MiB, with calloc and realloc among
// the mallocs, and one block in eight freed by the other thread.
//
// Each thread keeps kSlots live blocks and replaces a random one per step.
// A replaced block goes, one time in eight, to the other thread's inbox
// instead of being freed; each thread frees the blocks in its inbox every
// kExchange steps. Each block's contents and its checksum value follow from
// the random sequence of the thread that made it, and the checksum is a sum,
// so the order of the cross-thread frees does not change it.
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

constexpr std::size_t kSlots = 20000;
constexpr std::size_t kExchange = 256;

struct Block {
  void* data;
  std::size_t size;
  std::uint64_t tag;
};

struct Inbox {
  std::mutex mutex;
  std::vector<Block> blocks;
};

Inbox inboxes[2];

std::size_t mixed_size(wp::Rng& rng) {
  const std::uint64_t r = rng.next() % 1000;
  if (r < 800) return rng.range(8, 256);          // 80 %: small
  if (r < 970) return rng.range(257, 8192);       // 17 %: medium
  if (r < 997) return rng.range(8193, 65536);     // 2.7 %: big
  return rng.range(65537, 1u << 20);              // 0.3 %: large
}

Block make(wp::Rng& rng) {
  const std::size_t size = mixed_size(rng);
  const std::uint64_t kind = rng.next() % 8;
  void* data;
  if (kind == 0) {
    data = wp::checked(std::calloc(1, size));
    const auto* bytes = static_cast<const unsigned char*>(data);
    if (bytes[0] != 0 || bytes[size - 1] != 0 || bytes[size / 2] != 0) {
      std::fprintf(stderr, "calloc returned a dirty block\n");
      std::abort();
    }
  } else if (kind == 1) {
    // Grown from a smaller block: realloc's move or extension.
    data = wp::checked(std::malloc(size / 2 + 1));
    std::memset(data, 0x5a, size / 2 + 1);
    data = wp::checked(std::realloc(data, size));
  } else {
    data = wp::checked(std::malloc(size));
  }
  const std::uint64_t tag = rng.next();
  // Touch one byte per page, as a program that uses its memory would.
  for (std::size_t i = 0; i < size; i += 4096) static_cast<unsigned char*>(data)[i] = static_cast<unsigned char>(tag);
  wp::stamp(data, size, tag);
  return {data, size, tag};
}

std::uint64_t drain(Inbox& inbox, std::vector<Block>& scratch) {
  {
    std::lock_guard lock(inbox.mutex);
    scratch.swap(inbox.blocks);
  }
  std::uint64_t sum = 0;
  for (const Block& b : scratch) {
    sum += wp::unstamp(b.data, b.size, b.tag);
    std::free(b.data);
  }
  scratch.clear();
  return sum;
}

void run(int me, std::size_t steps, std::uint64_t* result) {
  wp::Rng rng(0x51 + me);
  std::vector<Block> slots(kSlots);
  for (Block& b : slots) b = make(rng);
  std::vector<Block> outgoing, scratch;
  std::uint64_t sum = 0;
  for (std::size_t step = 0; step < steps; ++step) {
    Block& b = slots[rng.next() % kSlots];
    if (rng.next() % 8 == 0) {
      outgoing.push_back(b);  // the other thread frees it
    } else {
      sum += wp::unstamp(b.data, b.size, b.tag);
      std::free(b.data);
    }
    b = make(rng);
    if (step % kExchange == kExchange - 1) {
      {
        std::lock_guard lock(inboxes[1 - me].mutex);
        for (const Block& o : outgoing) inboxes[1 - me].blocks.push_back(o);
      }
      outgoing.clear();
      sum += drain(inboxes[me], scratch);
    }
  }
  for (const Block& b : slots) {
    sum += wp::unstamp(b.data, b.size, b.tag);
    std::free(b.data);
  }
  {
    std::lock_guard lock(inboxes[1 - me].mutex);
    for (const Block& o : outgoing) inboxes[1 - me].blocks.push_back(o);
  }
  *result = sum;
}

}  // namespace

int main(int argc, char** argv) {
  const auto steps = static_cast<std::size_t>(4'000'000 * wp::scale(argc, argv));
  std::uint64_t sums[2] = {};
  std::thread other(run, 1, steps, &sums[1]);
  run(0, steps, &sums[0]);
  other.join();
  // What either thread sent after the other's last drain.
  std::vector<Block> scratch;
  const std::uint64_t rest = drain(inboxes[0], scratch) + drain(inboxes[1], scratch);
  wp::print_checksum("mstress", sums[0] + sums[1] + rest);
}
