// remote_free: every free is remote. Two producer threads allocate blocks
// (mostly 16 B-4 KiB, log-uniform; one in 64 up to 32 KiB) and hand them in
// batches of kBatch through one bounded queue; two consumer threads take
// batches from either producer and free every block in them (a pipeline of
// worker pools, where the thread that frees a request's memory is never the
// one that made it). Unlike prodcons, a producer only stamps its blocks, so
// the allocator's remote-free path and the return of the freed memory to the
// producers' caches are what the time is spent on, and each consumer frees
// blocks of two allocating threads.
//
// A block's size and tag follow from its producer's seed and its sequence
// number, and the checksum is a sum, so the interleaving does not change it.
#include <thread>
#include <vector>

#include "common.hpp"
#include "threads.hpp"

namespace {

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr std::size_t kBatch = 256;
constexpr std::size_t kDepth = 16;

struct Block {
  void* data;
  std::uint32_t size;
  std::uint64_t tag;
};

using Queue = wp::BatchQueue<std::vector<Block>>;

std::size_t block_size(wp::Rng& rng) {
  if (rng.next() % 64 == 0) return rng.range(4097, 32768);
  return rng.log_range(16, 4096);
}

void produce(Queue& queue, int me, std::size_t blocks) {
  wp::Rng rng(0x7e3 + me);
  for (std::size_t sent = 0; sent < blocks; sent += kBatch) {
    auto* batch = new std::vector<Block>;
    batch->reserve(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      const std::size_t size = block_size(rng);
      void* data = wp::checked(std::malloc(size));
      const std::uint64_t tag = rng.next();
      wp::stamp(data, size, tag);
      batch->push_back({data, static_cast<std::uint32_t>(size), tag});
    }
    queue.push(batch);
  }
  queue.finish();
}

void consume(Queue& queue, std::uint64_t* result) {
  std::uint64_t sum = 0;
  while (auto* batch = queue.pop()) {
    for (const Block& b : *batch) {
      sum += wp::unstamp(b.data, b.size, b.tag);
      std::free(b.data);
    }
    delete batch;
  }
  *result = sum;
}

}  // namespace

int main(int argc, char** argv) {
  const auto blocks = static_cast<std::size_t>(7'000'000 * wp::scale(argc, argv));
  Queue queue(kDepth, kProducers);
  std::uint64_t sums[kConsumers] = {};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) threads.emplace_back(consume, std::ref(queue), &sums[c]);
  for (int p = 0; p < kProducers; ++p) threads.emplace_back(produce, std::ref(queue), p, blocks);
  for (auto& thread : threads) thread.join();
  std::uint64_t sum = 0;
  for (std::uint64_t s : sums) sum += s;
  wp::print_checksum("remote_free", sum);
}
