// realloc_grow: buffers that grow by realloc, a few bytes at a time (string
// builders, readers that append what they receive, C code that calls
// realloc for every element it adds). kBuffers buffers grow side by side,
// one append each in turn, so that a buffer's neighbour is usually in the way
// of growth in place; each stops at a target size (log-uniform, 64 B to
// 2 MiB), is read, freed and replaced by a new one.
#include <vector>

#include "common.hpp"

namespace {

constexpr std::size_t kBuffers = 64;

struct Buffer {
  unsigned char* data = nullptr;
  std::size_t size = 0;
  std::size_t target = 0;
  std::uint64_t hash = 0;  // of the bytes appended, to check them at the end
  unsigned char first = 0;
};

void start(Buffer& b, wp::Rng& rng) {
  b.data = nullptr;
  b.size = 0;
  b.target = rng.log_range(64, 2u << 20);
  b.hash = 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto appended_goal = static_cast<std::size_t>(3'000'000'000.0 * wp::scale(argc, argv));
  wp::Rng rng(99);
  std::vector<Buffer> buffers(kBuffers);
  for (Buffer& b : buffers) start(b, rng);
  std::uint64_t sum = 0;
  std::size_t appended = 0;
  while (appended < appended_goal) {
    for (Buffer& b : buffers) {
      // Appends of 1..64 bytes; bigger buffers take bigger appends (1/64 of
      // their size), as a reader's buffer does when input arrives faster.
      std::size_t chunk = rng.range(1, 64);
      if (b.size / 64 > chunk) chunk = b.size / 64;
      auto* grown = static_cast<unsigned char*>(wp::checked(std::realloc(b.data, b.size + chunk)));
      b.data = grown;
      const auto value = static_cast<unsigned char>(rng.next());
      if (b.size == 0) b.first = value;
      // Only the ends of a large append are written: the cost under test is
      // the realloc, not the memset.
      b.data[b.size] = value;
      b.data[b.size + chunk - 1] = value;
      b.hash = wp::mix(b.hash ^ (value * 0x100000001ULL) ^ chunk);
      b.size += chunk;
      appended += chunk;
      if (b.size >= b.target) {
        // What was written first and last must still be there (only
        // written bytes are read: the rest holds whatever the allocator had).
        if (b.data[0] != b.first) {
          std::fprintf(stderr, "buffer lost its first byte in realloc\n");
          std::abort();
        }
        sum += wp::mix(b.hash ^ b.size ^ (std::uint64_t{b.data[b.size - 1]} << 56));
        std::free(b.data);
        start(b, rng);
      }
    }
  }
  for (Buffer& b : buffers) {
    sum += wp::mix(b.hash ^ b.size);
    std::free(b.data);
  }
  wp::print_checksum("realloc_grow", sum);
}
