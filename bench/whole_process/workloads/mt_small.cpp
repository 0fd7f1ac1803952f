// mt_small: two threads, each allocating and freeing small objects of its own
// as fast as it can (temporary strings, nodes and closures in a busy
// server's request handlers; mimalloc-bench's `xmalloc-test` without the
// remote frees): blocks of 16-128 bytes, three times in four freed straight
// after use, otherwise made in a small batch (2-16 blocks) that is freed in
// the order made or the reverse. Nothing crosses threads, so what is measured
// is an allocator's thread-local fast path and whether its threads contend.
//
// A thread's blocks, tags and checksum follow from its own seed, and the
// result is the sum of the threads' checksums.

#include "common.hpp"
#include "threads.hpp"

namespace {

constexpr int kThreads = 2;
constexpr std::size_t kMaxBatch = 16;

struct Block {
  void* data;
  std::size_t size;
  std::uint64_t tag;
};

Block make(wp::Rng& rng) {
  const std::uint64_t r = rng.next();
  const std::size_t size = 16 + (r & 0x7f) % 113;  // 16-128 B
  void* data = wp::checked(std::malloc(size));
  const std::uint64_t tag = r >> 7;
  // Written in full, as a small object is by its constructor.
  std::memset(data, static_cast<int>(tag), size);
  wp::stamp(data, size, tag);
  return {data, size, tag};
}

std::uint64_t release(const Block& b) {
  const std::uint64_t value = wp::unstamp(b.data, b.size, b.tag) + static_cast<const unsigned char*>(b.data)[b.size / 2];
  std::free(b.data);
  return value;
}

std::uint64_t run(int me, std::size_t pairs) {
  wp::Rng rng(0x5a11 + me);
  Block batch[kMaxBatch];
  std::uint64_t sum = 0;
  for (std::size_t done = 0; done < pairs;) {
    const std::uint64_t r = rng.next();
    if (r % 4 != 0) {
      sum += release(make(rng));
      ++done;
      continue;
    }
    const std::size_t n = 2 + (r >> 8) % (kMaxBatch - 1);
    for (std::size_t i = 0; i < n; ++i) batch[i] = make(rng);
    if ((r >> 16) & 1) {
      for (std::size_t i = 0; i < n; ++i) sum += release(batch[i]);
    } else {
      for (std::size_t i = n; i-- > 0;) sum += release(batch[i]);
    }
    done += n;
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const auto pairs = static_cast<std::size_t>(50'000'000 * wp::scale(argc, argv));
  const std::uint64_t sum = wp::sum_over_threads(kThreads, [&](int me) { return run(me, pairs); });
  wp::print_checksum("mt_small", sum);
}
