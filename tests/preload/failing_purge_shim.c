// Preloaded before the interposer, this makes every MADV_DONTNEED and
// MADV_FREE fail with EAGAIN, as a kernel short of memory may: jemalloc's
// purge inside free then fails and leaves its errno behind. It calls the
// kernel directly: a libc call here could come back into malloc.
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/// How many purges were refused. Read by the test, which proves nothing if
/// none was.
__attribute__((visibility("default"))) unsigned long secbits_shim_refused_purges = 0;

__attribute__((visibility("default"))) int madvise(void* address, size_t length, int advice) {
  if (advice == MADV_DONTNEED || advice == MADV_FREE) {
    __atomic_add_fetch(&secbits_shim_refused_purges, 1, __ATOMIC_RELAXED);
    errno = EAGAIN;
    return -1;
  }
  return (int)syscall(SYS_madvise, address, length, advice);
}
