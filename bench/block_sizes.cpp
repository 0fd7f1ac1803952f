// The memory a small block really takes at a hardening level: at level 3 an
// 8-byte canary ends every small block, so a request that fills its class
// exactly moves to the next class. One process per level (the level is fixed
// before the pool's first allocation):
//
//   secbits_block_sizes LEVEL [SIZE ...]
//
// For each request size (default: 8 16 24 32 48 64 100 128 256 1000, then the
// pool benchmark's small sizes 1024 4096 16384), kCount blocks are allocated
// and one line is printed:
//
//   level size usable block committed_per_block
//
// usable: secbits_usable_size of a block; block: the smallest distance between
// two of the blocks' addresses (the slot the block takes in its slab, canary
// included); committed_per_block: growth of the pool's committed bytes over
// the kCount blocks, divided by kCount (slab pages included). The blocks of
// one size are freed before the next, but the pool keeps emptied slabs
// committed for reuse, so after the first size committed_per_block can read
// low: bench/hardening.sh runs one size per process.
#include <secbits/secbits.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t kCount = 4096;
constexpr std::size_t kDefaultSizes[] = {8, 16, 24, 32, 48, 64, 100, 128, 256, 1000, 1024, 4096, 16384};

std::size_t committed() {
  struct secbits_stats stats{};
  secbits_stats(&stats);
  return stats.bytes_committed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] < '0' || argv[1][0] > '3' || argv[1][1] != '\0') {
    std::fprintf(stderr, "usage: secbits_block_sizes LEVEL(0-3) [SIZE ...]\n");
    return 2;
  }
  if (secbits_set_hardening(argv[1][0] - '0') != 0) {
    std::fprintf(stderr, "secbits_block_sizes: secbits_set_hardening(%s): %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::vector<std::size_t> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes.assign(std::begin(kDefaultSizes), std::end(kDefaultSizes));

  std::printf("level size usable block committed_per_block\n");
  std::vector<void*> blocks(kCount);
  for (std::size_t size : sizes) {
    const std::size_t before = committed();
    for (auto& block : blocks) {
      block = secbits_malloc(size);
      if (block == nullptr) {
        std::fprintf(stderr, "secbits_block_sizes: secbits_malloc(%zu): %s\n", size, std::strerror(errno));
        return 1;
      }
    }
    const std::size_t after = committed();
    const std::size_t usable = secbits_usable_size(blocks[0]);
    std::vector<std::uintptr_t> addresses;
    for (void* block : blocks) addresses.push_back(reinterpret_cast<std::uintptr_t>(block));
    std::sort(addresses.begin(), addresses.end());
    std::uintptr_t gap = UINTPTR_MAX;
    for (std::size_t i = 1; i < addresses.size(); ++i) gap = std::min(gap, addresses[i] - addresses[i - 1]);
    std::printf("%d %zu %zu %zu %.1f\n", secbits_get_hardening(), size, usable, static_cast<std::size_t>(gap),
                static_cast<double>(after - before) / static_cast<double>(kCount));
    for (void* block : blocks) secbits_free(block);
  }
  return 0;
}
