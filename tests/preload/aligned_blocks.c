// Every aligned allocation function, for alignments of 8 KiB to 1 MiB, under
// the interposer with the pool's reservation misaligned (misaligned_mmap_shim
// preloaded first). Exits 0 if every block is aligned, 1 with a report if
// not, 2 if the shim did not act (the test would then prove nothing).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 8

int main(void) {
  void* warm = malloc(1);  // the interposer reserves its range on first use
  free(warm);
  const uintptr_t* skewed_at = dlsym(RTLD_DEFAULT, "secbits_shim_skewed_at");
  if (skewed_at == NULL || *skewed_at == 0 || *skewed_at % ((uintptr_t)2 << 20) != 4096) {
    fprintf(stderr, "FAILED: the misaligning mmap shim did not place the reservation\n");
    return 2;
  }
  int misaligned = 0;
  for (size_t alignment = 8192; alignment <= ((size_t)1 << 20); alignment *= 2) {
    const size_t sizes[] = {100, alignment, alignment + 1, 3 * alignment};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
      void* blocks[3 * LIVE];
      for (int i = 0; i < LIVE; ++i) {
        if (posix_memalign(&blocks[3 * i], alignment, sizes[s]) != 0) blocks[3 * i] = NULL;
        blocks[3 * i + 1] = memalign(alignment, sizes[s]);
        blocks[3 * i + 2] = aligned_alloc(alignment, sizes[s]);
      }
      for (int i = 0; i < 3 * LIVE; ++i) {
        if (blocks[i] == NULL || (uintptr_t)blocks[i] % alignment != 0) {
          fprintf(stderr, "FAILED: %p for alignment %zu, size %zu\n", blocks[i], alignment, sizes[s]);
          ++misaligned;
        }
        free(blocks[i]);
      }
    }
  }
  printf("%d misaligned\n", misaligned);
  return misaligned == 0 ? 0 : 1;
}
