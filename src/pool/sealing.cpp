#include "pool/sealing.hpp"

#include <atomic>
#include <cerrno>

#include "os/pages.hpp"

namespace secbits::pool {

namespace {

constinit std::atomic<long> sealed{0};
constinit std::atomic<bool> kernel_lacks_mseal{false};

}  // namespace

void seal_for_life(void* base, std::size_t bytes) noexcept {
  if (kernel_lacks_mseal.load(std::memory_order_relaxed)) return;
  const os::Status status = os::seal(base, bytes);
  if (status.ok()) {
    sealed.fetch_add(1, std::memory_order_relaxed);
  } else if (status.error == ENOSYS) {
    kernel_lacks_mseal.store(true, std::memory_order_relaxed);
  }
  // Any other refusal (a kernel that rejects the range) leaves the mapping
  // as it was: unsealed, and not counted.
}

bool seal_read_only(void* page, std::size_t bytes) noexcept {
  if (!os::protect(page, bytes, Protection::ReadOnly).ok()) return false;
  seal_for_life(page, bytes);
  return true;
}

long sealed_mappings() noexcept {
  return kernel_lacks_mseal.load(std::memory_order_relaxed) ? -1 : sealed.load(std::memory_order_relaxed);
}

}  // namespace secbits::pool
