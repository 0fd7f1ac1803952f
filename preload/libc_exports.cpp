// The C allocation functions of the process: one line each. The C rules live
// in pool/c_semantics; the routing in router.hpp.
#include <cstddef>
#include <cstdlib>
#include <malloc.h>

#include "preload/router.hpp"

#define SECBITS_EXPORT extern "C" __attribute__((visibility("default")))

namespace sp = secbits::preload;
namespace pool = secbits::pool;

SECBITS_EXPORT void* malloc(size_t size) noexcept { sp::ensure_ready(); return pool::c_malloc(size); }
SECBITS_EXPORT void free(void* pointer) noexcept { sp::release(pointer); }
SECBITS_EXPORT void* calloc(size_t count, size_t size) noexcept { sp::ensure_ready(); return pool::c_calloc(count, size); }
SECBITS_EXPORT void* realloc(void* pointer, size_t size) noexcept { sp::ensure_ready(); return pool::c_realloc(pointer, size); }
SECBITS_EXPORT void* reallocarray(void* pointer, size_t count, size_t size) noexcept { sp::ensure_ready(); return pool::c_reallocarray(pointer, count, size); }
SECBITS_EXPORT int posix_memalign(void** result, size_t alignment, size_t size) noexcept { sp::ensure_ready(); return pool::c_posix_memalign(result, alignment, size); }
SECBITS_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept { sp::ensure_ready(); return pool::c_aligned_alloc(alignment, size); }
SECBITS_EXPORT void* memalign(size_t alignment, size_t size) noexcept { sp::ensure_ready(); return pool::c_memalign(alignment, size); }
SECBITS_EXPORT void* valloc(size_t size) noexcept { sp::ensure_ready(); return pool::c_valloc(size); }
SECBITS_EXPORT void* pvalloc(size_t size) noexcept { sp::ensure_ready(); return pool::c_pvalloc(size); }
SECBITS_EXPORT size_t malloc_usable_size(void* pointer) noexcept { sp::ensure_ready(); return pool::c_usable_size(pointer); }
SECBITS_EXPORT void free_sized(void* pointer, size_t) noexcept { sp::release(pointer); }
SECBITS_EXPORT void free_aligned_sized(void* pointer, size_t, size_t) noexcept { sp::release(pointer); }
SECBITS_EXPORT void cfree(void* pointer) noexcept { sp::release(pointer); }

// glibc's own names, which some tools and glibc internals call directly.
SECBITS_EXPORT void* __libc_malloc(size_t size) noexcept { return malloc(size); }
SECBITS_EXPORT void __libc_free(void* pointer) noexcept { free(pointer); }
SECBITS_EXPORT void* __libc_calloc(size_t count, size_t size) noexcept { return calloc(count, size); }
SECBITS_EXPORT void* __libc_realloc(void* pointer, size_t size) noexcept { return realloc(pointer, size); }
SECBITS_EXPORT void* __libc_memalign(size_t alignment, size_t size) noexcept { return memalign(alignment, size); }
SECBITS_EXPORT void* __libc_valloc(size_t size) noexcept { return valloc(size); }
SECBITS_EXPORT void* __libc_pvalloc(size_t size) noexcept { return pvalloc(size); }
SECBITS_EXPORT int __posix_memalign(void** result, size_t alignment, size_t size) noexcept { return posix_memalign(result, alignment, size); }

// The address report.cpp compares dlsym(RTLD_DEFAULT, "malloc") with.
extern "C" __attribute__((visibility("hidden"), alias("malloc"), malloc, alloc_size(1))) void* secbits_preload_own_malloc(
    size_t size) noexcept;
