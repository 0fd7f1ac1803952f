// All 20 replaceable operator new/delete forms. Every one must be ours: a
// form left out binds to the next definition in the process (libstdc++'s, or
// jemalloc's), and that memory would bypass the pool.
#include <cstddef>
#include <new>

#include "preload/router.hpp"

#define SECBITS_EXPORT __attribute__((visibility("default")))

namespace sp = secbits::preload;

namespace {
constexpr std::size_t kNewAlignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
std::size_t value(std::align_val_t alignment) { return static_cast<std::size_t>(alignment); }
}  // namespace

SECBITS_EXPORT void* operator new(std::size_t size) { return sp::new_or_throw(size, kNewAlignment); }
SECBITS_EXPORT void* operator new[](std::size_t size) { return sp::new_or_throw(size, kNewAlignment); }
SECBITS_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return sp::new_or_null(size, kNewAlignment); }
SECBITS_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return sp::new_or_null(size, kNewAlignment); }
SECBITS_EXPORT void* operator new(std::size_t size, std::align_val_t alignment) { return sp::new_or_throw(size, value(alignment)); }
SECBITS_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment) { return sp::new_or_throw(size, value(alignment)); }
SECBITS_EXPORT void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return sp::new_or_null(size, value(alignment)); }
SECBITS_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return sp::new_or_null(size, value(alignment)); }

// A sized delete whose size does not fit the block is a bug the pool reports
// (hardening level 1 and up, pool blocks only): a delete through the wrong
// type, or of the wrong object. jemalloc's blocks are freed as they are.
SECBITS_EXPORT void operator delete(void* pointer) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete[](void* pointer) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete(void* pointer, std::size_t size) noexcept { sp::RouterHeap::release_sized(pointer, size, 0); }
SECBITS_EXPORT void operator delete[](void* pointer, std::size_t size) noexcept { sp::RouterHeap::release_sized(pointer, size, 0); }
SECBITS_EXPORT void operator delete(void* pointer, std::align_val_t) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete[](void* pointer, std::align_val_t) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete(void* pointer, std::size_t size, std::align_val_t alignment) noexcept { sp::RouterHeap::release_sized(pointer, size, value(alignment)); }
SECBITS_EXPORT void operator delete[](void* pointer, std::size_t size, std::align_val_t alignment) noexcept { sp::RouterHeap::release_sized(pointer, size, value(alignment)); }
SECBITS_EXPORT void operator delete(void* pointer, const std::nothrow_t&) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete[](void* pointer, const std::nothrow_t&) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { sp::RouterC::free(pointer); }
SECBITS_EXPORT void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept { sp::RouterC::free(pointer); }
