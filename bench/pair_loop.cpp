// A plain alloc+free loop at a hardening level, to count instructions per
// pair under callgrind (noise-free where the machine is busy):
//
//   secbits_pair_loop LEVEL SIZE a|b ROUNDS
//
// Each round is 1,000 pairs of secbits_malloc(SIZE)/secbits_free, every block
// touched once per 64 bytes as in bench_pool.cpp: pattern a frees each block
// at once, pattern b keeps the 1,000 live and frees them in a fixed random
// order. Instructions per pair: the difference between two runs of different
// ROUNDS (start-up cancels out), divided by 1,000 x the difference in rounds:
//
//   valgrind --tool=callgrind --callgrind-out-file=cg.20 secbits_pair_loop 2 64 a 20
//   valgrind --tool=callgrind --callgrind-out-file=cg.40 secbits_pair_loop 2 64 a 40
//   (summary of cg.40 - summary of cg.20) / 20000
#include <secbits/secbits.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

constexpr std::size_t kBatch = 1000;

void touch(void* block, std::size_t size) {
  auto* bytes = static_cast<volatile unsigned char*>(block);
  for (std::size_t offset = 0; offset < size; offset += 64) bytes[offset] = 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 || (argv[3][0] != 'a' && argv[3][0] != 'b')) {
    std::fprintf(stderr, "usage: secbits_pair_loop LEVEL SIZE a|b ROUNDS\n");
    return 2;
  }
  if (secbits_set_hardening(std::atoi(argv[1])) != 0) {
    std::fprintf(stderr, "secbits_pair_loop: secbits_set_hardening(%s): %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  const std::size_t size = std::strtoull(argv[2], nullptr, 10);
  const bool batch = argv[3][0] == 'b';
  const long rounds = std::atol(argv[4]);
  std::vector<void*> blocks(kBatch);
  std::vector<std::size_t> order(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) order[i] = i;
  std::mt19937_64 random(0x5ec817);
  std::shuffle(order.begin(), order.end(), random);
  for (long round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      void* block = secbits_malloc(size);
      if (block == nullptr) {
        std::fprintf(stderr, "secbits_pair_loop: secbits_malloc(%zu): %s\n", size, std::strerror(errno));
        return 1;
      }
      touch(block, size);
      if (batch) blocks[i] = block;
      else secbits_free(block);
    }
    if (batch) {
      for (std::size_t i : order) secbits_free(blocks[i]);
    }
  }
  return 0;
}
