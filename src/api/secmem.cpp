#include <secbits/secmem.hpp>

#include <algorithm>
#include <string>
#include <utility>

#include <secbits/error.hpp>

#include "api/os_error.hpp"
#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/wipe.hpp"

namespace secbits {

SecMem::SecMem(std::size_t min_bytes, LockPolicy policy) {
  std::size_t capacity = 0;
  if (!os::round_to_pages(std::max<std::size_t>(min_bytes, 1), &capacity)) {
    throw Error(std::make_error_code(std::errc::value_too_large),
                "SecMem of " + std::to_string(min_bytes) + " bytes: rounding up to whole pages overflows size_t");
  }
  std::byte* data = nullptr;
  if (const os::Status status = os::map_guarded(capacity, &data); !status.ok()) detail::throw_os_error(status, capacity);

  auto unmap_and_throw = [&](os::Status status) {
    (void)os::unmap_guarded(data, capacity);
    detail::throw_os_error(status, capacity);
  };
  // Advice first, while the pages are still empty: no byte of a secret may
  // ever sit in a dumpable or fork-inherited page.
  if (const os::Status status = os::exclude_from_dump(data, capacity); !status.ok()) unmap_and_throw(status);
  if (const os::Status status = os::wipe_on_fork(data, capacity); !status.ok()) unmap_and_throw(status);

  bool locked = true;
  if (const os::Status status = os::lock(data, capacity); !status.ok()) {
    if (policy != LockPolicy::Degrade || !os::is_lock_budget_error(status.error)) unmap_and_throw(status);
    os::warn_unlocked_once(status, capacity);
    locked = false;
  }
  if (const os::Status status = os::protect(data, capacity, Protection::NoAccess); !status.ok()) unmap_and_throw(status);

  data_ = data;
  capacity_ = capacity;
  protection_ = Protection::NoAccess;
  locked_ = locked;
}

SecMem::~SecMem() { release(); }

SecMem::SecMem(SecMem&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      protection_(std::exchange(other.protection_, Protection::NoAccess)),
      locked_(std::exchange(other.locked_, false)) {}

SecMem& SecMem::operator=(SecMem&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    protection_ = std::exchange(other.protection_, Protection::NoAccess);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

void SecMem::protect(Protection protection) {
  if (data_ == nullptr || protection == protection_) return;
  if (const os::Status status = os::protect(data_, capacity_, protection); !status.ok()) {
    detail::throw_os_error(status, capacity_);
  }
  protection_ = protection;
}

void SecMem::release() noexcept {
  if (data_ == nullptr) return;
  // A failure here would leave a secret behind unnoticed: die loudly instead.
  if (protection_ != Protection::ReadWrite) {
    if (const os::Status status = os::protect(data_, capacity_, Protection::ReadWrite); !status.ok()) {
      os::fatal_errno("cannot open a secret region to wipe it", data_, status.error);
    }
  }
  os::secure_wipe(data_, capacity_);
  if (locked_) {
    if (const os::Status status = os::unlock(data_, capacity_); !status.ok()) {
      os::fatal_errno("munlock failed for secret region", data_, status.error);
    }
  }
  if (const os::Status status = os::unmap_guarded(data_, capacity_); !status.ok()) {
    os::fatal_errno("munmap failed for secret region", data_, status.error);
  }
  data_ = nullptr;
  capacity_ = 0;
  protection_ = Protection::NoAccess;
  locked_ = false;
}

}  // namespace secbits
