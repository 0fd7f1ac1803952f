// prodcons: a producer thread allocates messages, a consumer thread reads and
// frees them (after the producer/consumer patterns of xmalloc-test and
// mimalloc-bench's `xmalloc-testN`): every free is a free of a block another
// thread allocated, while that thread keeps allocating.
//
// Messages go in batches of kBatch through a bounded queue (mutex and
// condition variables) of at most kDepth batches, so up to kBatch * kDepth
// messages are in flight. Sizes: mostly 16..512 bytes, one in 32 up to 8 KiB,
// one in 512 up to 64 KiB. A message's size and tag follow from its sequence
// number alone, so the checksum does not depend on the interleaving.
#include <thread>
#include <vector>

#include "common.hpp"
#include "threads.hpp"

namespace {

constexpr std::size_t kBatch = 256;
constexpr std::size_t kDepth = 32;

struct Message {
  void* block;
  std::uint32_t size;
  std::uint64_t tag;
};

using Queue = wp::BatchQueue<std::vector<Message>>;

std::size_t message_size(wp::Rng& rng) {
  const std::uint64_t r = rng.next();
  if (r % 512 == 0) return rng.range(8193, 65536);
  if (r % 32 == 0) return rng.range(513, 8192);
  return rng.range(16, 512);
}

void produce(Queue& queue, std::size_t messages) {
  wp::Rng rng(42);
  for (std::size_t sent = 0; sent < messages; sent += kBatch) {
    auto* batch = new std::vector<Message>;
    batch->reserve(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      const std::size_t size = message_size(rng);
      void* block = wp::checked(std::malloc(size));
      const std::uint64_t tag = rng.next();
      // A message is written in full by its producer, as a real one would be.
      std::memset(block, static_cast<int>(tag), size);
      wp::stamp(block, size, tag);
      batch->push_back({block, static_cast<std::uint32_t>(size), tag});
    }
    queue.push(batch);
  }
  queue.finish();
}

std::uint64_t consume(Queue& queue) {
  std::uint64_t sum = 0;
  while (auto* batch = queue.pop()) {
    for (const Message& m : *batch) {
      const auto* bytes = static_cast<const unsigned char*>(m.block);
      sum += wp::unstamp(m.block, m.size, m.tag) + bytes[m.size / 2];
      std::free(m.block);
    }
    delete batch;
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const auto messages = static_cast<std::size_t>(30'000'000 * wp::scale(argc, argv));
  Queue queue(kDepth, 1);
  std::uint64_t sum = 0;
  std::thread consumer([&] { sum = consume(queue); });
  produce(queue, messages);
  consumer.join();
  wp::print_checksum("prodcons", sum);
}
