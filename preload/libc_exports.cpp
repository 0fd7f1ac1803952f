// The C allocation functions of the process: one line each. The C rules live
// in pool/c_rules.hpp; the routing in router.hpp.
#include <cstddef>
#include <cstdlib>
#include <malloc.h>

#include "preload/router.hpp"

#define SECBITS_EXPORT extern "C" __attribute__((visibility("default")))

using secbits::preload::RouterC;
using secbits::preload::RouterHeap;

SECBITS_EXPORT void* malloc(size_t size) noexcept { return RouterC::malloc(size); }
SECBITS_EXPORT void free(void* pointer) noexcept { RouterC::free(pointer); }
SECBITS_EXPORT void* calloc(size_t count, size_t size) noexcept { return RouterC::calloc(count, size); }
SECBITS_EXPORT void* realloc(void* pointer, size_t size) noexcept { return RouterC::realloc(pointer, size); }
SECBITS_EXPORT void* reallocarray(void* pointer, size_t count, size_t size) noexcept { return RouterC::reallocarray(pointer, count, size); }
SECBITS_EXPORT int posix_memalign(void** result, size_t alignment, size_t size) noexcept { return RouterC::posix_memalign(result, alignment, size); }
SECBITS_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept { return RouterC::aligned_alloc(alignment, size); }
SECBITS_EXPORT void* memalign(size_t alignment, size_t size) noexcept { return RouterC::memalign(alignment, size); }
SECBITS_EXPORT void* valloc(size_t size) noexcept { return RouterC::valloc(size); }
SECBITS_EXPORT void* pvalloc(size_t size) noexcept { return RouterC::pvalloc(size); }
SECBITS_EXPORT size_t malloc_usable_size(void* pointer) noexcept { return RouterC::usable_size(pointer); }
SECBITS_EXPORT void free_sized(void* pointer, size_t size) noexcept { RouterHeap::release_sized(pointer, size, 0); }
SECBITS_EXPORT void free_aligned_sized(void* pointer, size_t alignment, size_t size) noexcept { RouterHeap::release_sized(pointer, size, alignment); }
SECBITS_EXPORT void cfree(void* pointer) noexcept { RouterC::free(pointer); }

// glibc's own names, which some tools and glibc internals call directly.
SECBITS_EXPORT void* __libc_malloc(size_t size) noexcept { return RouterC::malloc(size); }
SECBITS_EXPORT void __libc_free(void* pointer) noexcept { RouterC::free(pointer); }
SECBITS_EXPORT void* __libc_calloc(size_t count, size_t size) noexcept { return RouterC::calloc(count, size); }
SECBITS_EXPORT void* __libc_realloc(void* pointer, size_t size) noexcept { return RouterC::realloc(pointer, size); }
SECBITS_EXPORT void* __libc_memalign(size_t alignment, size_t size) noexcept { return RouterC::memalign(alignment, size); }
SECBITS_EXPORT void* __libc_valloc(size_t size) noexcept { return RouterC::valloc(size); }
SECBITS_EXPORT void* __libc_pvalloc(size_t size) noexcept { return RouterC::pvalloc(size); }
SECBITS_EXPORT int __posix_memalign(void** result, size_t alignment, size_t size) noexcept { return RouterC::posix_memalign(result, alignment, size); }

// The address report.cpp compares dlsym(RTLD_DEFAULT, "malloc") with.
extern "C" __attribute__((visibility("hidden"), alias("malloc"), malloc, alloc_size(1))) void* secbits_preload_own_malloc(
    size_t size) noexcept;
