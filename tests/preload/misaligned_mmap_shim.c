// Preloaded before the interposer, this makes the kernel look like Debian
// 12's 6.1 rather than this machine's 6.18: the first PROT_NONE anonymous
// mapping of 1 GiB or more (the pool's reservation) lands 4 KiB past a 2 MiB
// boundary, as a kernel that page-aligns large mappings may place it. It
// calls the kernel directly: a libc call here could come back into malloc.
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TWO_MIB ((uintptr_t)2 << 20)

/// Where the skewed mapping was placed; 0 until then. Read by the test.
__attribute__((visibility("default"))) uintptr_t secbits_shim_skewed_at = 0;

static void* kernel_mmap(void* address, size_t length, int protection, int flags, int fd, off_t offset) {
  return (void*)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
}

__attribute__((visibility("default"))) void* mmap(void* address, size_t length, int protection, int flags, int fd,
                                                  off_t offset) {
  if (secbits_shim_skewed_at != 0 || address != NULL || protection != PROT_NONE || !(flags & MAP_ANONYMOUS) ||
      length < ((size_t)1 << 30)) {
    return kernel_mmap(address, length, protection, flags, fd, offset);
  }
  const size_t padded = length + 2 * TWO_MIB;
  char* mapped = kernel_mmap(NULL, padded, protection, flags, -1, 0);
  if (mapped == MAP_FAILED) return mapped;
  const uintptr_t low = (uintptr_t)mapped;
  const uintptr_t start = ((low + TWO_MIB - 1) & ~(TWO_MIB - 1)) + 4096;
  syscall(SYS_munmap, mapped, start - low);
  syscall(SYS_munmap, start + length, low + padded - (start + length));
  secbits_shim_skewed_at = start;
  return (void*)start;
}

__attribute__((visibility("default"))) void* mmap64(void* address, size_t length, int protection, int flags, int fd,
                                                    off_t offset) {
  return mmap(address, length, protection, flags, fd, offset);
}
