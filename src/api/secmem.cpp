#include <secbits/secmem.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include <secbits/error.hpp>
#include <secbits/pool.hpp>

#include "api/os_error.hpp"
#include "api/secret_regions.hpp"
#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"
#include "os/secret.hpp"
#include "os/wipe.hpp"
#include "pool/death_purge.hpp"
#include "pool/purge_regions.hpp"

namespace secbits {

namespace {

std::size_t whole_pages(std::size_t min_bytes) {
  std::size_t capacity = 0;
  if (!os::round_to_pages(std::max<std::size_t>(min_bytes, 1), &capacity)) {
    throw Error(std::make_error_code(std::errc::value_too_large),
                "SecMem of " + std::to_string(min_bytes) + " bytes: rounding up to whole pages overflows size_t");
  }
  return capacity;
}

/// PageSource::Auto made concrete, as the pool does when it starts.
bool wants_secret(PageSource source) noexcept {
  if (source == PageSource::Auto) return os::probe_secret_memory().ok();
  return source == PageSource::Secret;
}

[[noreturn]] void throw_secret_error(os::Status status, std::size_t bytes) {
  std::string hint;
  if (os::is_secret_budget_error(status)) {
    const std::size_t limit = os::memlock_limit();
    hint = "RLIMIT_MEMLOCK is " + (limit == SIZE_MAX ? std::string("unlimited") : std::to_string(limit) + " bytes") +
           " and secret memory is charged to it; raise it or grant CAP_IPC_LOCK";
  } else if (status.error == ENOSYS) {
    hint = "the kernel lacks memfd_secret or has it disabled; PageSource::Auto falls back to anonymous memory";
  }
  throw Error(std::error_code(status.error, std::generic_category()),
              "SecMem of " + std::to_string(bytes) + " bytes of secret memory: " + status.operation + " failed", hint);
}

enum class Locking { Try, Skip };

/// A guarded anonymous region, advised and NoAccess; locked unless `locking`
/// is Skip or LockPolicy::Degrade accepted a refused mlock.
std::byte* map_anonymous(std::size_t capacity, LockPolicy policy, Locking locking, bool* locked) {
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

  *locked = false;
  if (locking == Locking::Try) {
    if (const os::Status status = os::lock(data, capacity); status.ok()) {
      *locked = true;
    } else {
      if (policy != LockPolicy::Degrade || !os::is_lock_budget_error(status.error)) unmap_and_throw(status);
      os::warn_unlocked_once(status, capacity);
    }
  }
  if (const os::Status status = os::protect(data, capacity, Protection::NoAccess); !status.ok()) unmap_and_throw(status);
  return data;
}

/// mprotect, through the registry for secret regions so that a forked
/// child maps its fresh pages with the protection the region has.
os::Status change_protection(std::byte* data, std::size_t bytes, Protection protection, bool secret) noexcept {
  return secret ? detail::protect_secret_region(data, bytes, protection) : os::protect(data, bytes, protection);
}

/// A new region, NoAccess as every region starts.
void remember_for_purge(std::byte* data, std::size_t capacity) noexcept {
  // Without a page for the record the region is still secure in every other
  // way; only a purge would miss it, which is not worth failing the program.
  (void)pool::remember_region(data, capacity, Protection::NoAccess);
  pool::start_death_purge();
}

}  // namespace

SecMem::SecMem(std::size_t min_bytes, LockPolicy policy) : SecMem(min_bytes, policy, page_source()) {}

SecMem::SecMem(std::size_t min_bytes, LockPolicy policy, PageSource source) {
  const std::size_t capacity = whole_pages(min_bytes);
  Locking locking = Locking::Try;
  if (wants_secret(source)) {
    const os::Status status = detail::map_secret_region(capacity, &data_);
    if (status.ok()) {
      capacity_ = capacity;
      locked_ = true;  // by the kernel, for as long as the mapping lives
      secret_ = true;
      remember_for_purge(data_, capacity_);
      return;
    }
    if (policy != LockPolicy::Degrade || !os::is_secret_budget_error(status)) throw_secret_error(status, capacity);
    // The lock budget that refused the secret mapping would refuse mlock too.
    os::warn_unlocked_once(status, capacity);
    locking = Locking::Skip;
  }
  bool locked = false;
  data_ = map_anonymous(capacity, policy, locking, &locked);
  capacity_ = capacity;
  locked_ = locked;
  remember_for_purge(data_, capacity_);
}

SecMem::~SecMem() { release(); }

SecMem::SecMem(SecMem&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      protection_(std::exchange(other.protection_, Protection::NoAccess)),
      locked_(std::exchange(other.locked_, false)),
      secret_(std::exchange(other.secret_, false)) {}

SecMem& SecMem::operator=(SecMem&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    protection_ = std::exchange(other.protection_, Protection::NoAccess);
    locked_ = std::exchange(other.locked_, false);
    secret_ = std::exchange(other.secret_, false);
  }
  return *this;
}

bool SecMem::is_secret() const noexcept { return data_ != nullptr && secret_; }

void SecMem::protect(Protection protection) {
  if (data_ == nullptr || protection == protection_) return;
  if (const os::Status status = change_protection(data_, capacity_, protection, secret_); !status.ok()) {
    detail::throw_os_error(status, capacity_);
  }
  protection_ = protection;
  pool::note_region_protection(data_, protection);
}

void SecMem::release() noexcept {
  if (data_ == nullptr) return;
  // A failure here would leave a secret behind unnoticed: die loudly instead.
  // A secret region is opened even when it should be open already: in a
  // forked child that got no secret memory, it is PROT_NONE whatever
  // protection_ says.
  if (protection_ != Protection::ReadWrite || secret_) {
    if (const os::Status status = change_protection(data_, capacity_, Protection::ReadWrite, secret_); !status.ok()) {
      os::fatal_errno("cannot open a secret region to wipe it", data_, status.error);
    }
  }
  os::secure_wipe(data_, capacity_);
  // Secret memory is locked by the kernel until it is unmapped: no munlock.
  if (locked_ && !secret_) {
    if (const os::Status status = os::unlock(data_, capacity_); !status.ok()) {
      os::fatal_errno("munlock failed for secret region", data_, status.error);
    }
  }
  pool::forget_region(data_);
  if (secret_) detail::forget_secret_region(data_);
  if (const os::Status status = os::unmap_guarded(data_, capacity_); !status.ok()) {
    os::fatal_errno("munmap failed for secret region", data_, status.error);
  }
  data_ = nullptr;
  capacity_ = 0;
  protection_ = Protection::NoAccess;
  locked_ = false;
  secret_ = false;
}

}  // namespace secbits
