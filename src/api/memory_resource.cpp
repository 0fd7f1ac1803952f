#include <secbits/memory_resource.hpp>

#include <new>

#include <secbits/pool.hpp>

namespace secbits {

namespace {

class SecureMemoryResource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t bytes, std::size_t alignment) override { return ::secbits::allocate(bytes, alignment); }
  void do_deallocate(void* pointer, std::size_t, std::size_t) override { ::secbits::deallocate(pointer); }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

// Constant-initialised and never destroyed: containers in static storage may
// free into it during exit.
constinit SecureMemoryResource resource;

}  // namespace

std::pmr::memory_resource* secure_memory_resource() noexcept { return &resource; }

}  // namespace secbits
