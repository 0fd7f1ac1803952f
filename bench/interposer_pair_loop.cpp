// An ordinary program's allocation loop, for instruction counts of the
// interposer under callgrind against jemalloc preloaded alone
// (bench/interposer_pairs.sh runs them and prints the table):
//
//   secbits_interposer_pair_loop KIND ROUNDS [SIZE]
//
// Each round is 1,000 pairs of one kind, SIZE bytes (default 64):
//   malloc   malloc + free
//   calloc   calloc(1, SIZE) + free
//   realloc  malloc + realloc to 2 x SIZE + free
//   new      operator new + sized operator delete
//   delete   operator new + unsized operator delete
// Nothing of secbits is linked in: the interposer, or jemalloc, comes with
// LD_PRELOAD. Built with -fno-builtin-malloc so that the compiler keeps every
// pair; each block's address escapes into an empty asm for the same reason.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

constexpr long kPairsPerRound = 1000;

void escape(void* block) { asm volatile("" : : "r"(block) : "memory"); }

template <class Pair>
void repeat(long pairs, Pair pair) {
  for (long i = 0; i < pairs; ++i) pair();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: secbits_interposer_pair_loop malloc|calloc|realloc|new|delete ROUNDS [SIZE]\n");
    return 2;
  }
  const char* kind = argv[1];
  const long pairs = std::atol(argv[2]) * kPairsPerRound;
  const std::size_t size = argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 64;
  if (std::strcmp(kind, "malloc") == 0) {
    repeat(pairs, [=] {
      void* block = std::malloc(size);
      escape(block);
      std::free(block);
    });
  } else if (std::strcmp(kind, "calloc") == 0) {
    repeat(pairs, [=] {
      void* block = std::calloc(1, size);
      escape(block);
      std::free(block);
    });
  } else if (std::strcmp(kind, "realloc") == 0) {
    repeat(pairs, [=] {
      void* block = std::malloc(size);
      escape(block);
      block = std::realloc(block, 2 * size);
      escape(block);
      std::free(block);
    });
  } else if (std::strcmp(kind, "new") == 0) {
    repeat(pairs, [=] {
      void* block = ::operator new(size);
      escape(block);
      ::operator delete(block, size);
    });
  } else if (std::strcmp(kind, "delete") == 0) {
    repeat(pairs, [=] {
      void* block = ::operator new(size);
      escape(block);
      ::operator delete(block);
    });
  } else {
    std::fprintf(stderr, "secbits_interposer_pair_loop: unknown kind %s\n", kind);
    return 2;
  }
  return 0;
}
