#pragma once

#include <cstddef>

#include <secbits/export.hpp>
#include <secbits/protection.hpp>

namespace secbits {

/// A page-aligned region of whole pages for one secret, with a PROT_NONE guard
/// page on each side. Its pages are locked in RAM (mlock), excluded from core
/// dumps (MADV_DONTDUMP) and zero-filled in a forked child (MADV_WIPEONFORK).
/// It starts in Protection::NoAccess. On destruction the pages are wiped with a
/// zeroing the compiler cannot remove, unlocked and unmapped; if any of that
/// fails the process aborts with a one-line diagnostic rather than leave a
/// secret behind.
class SECBITS_API SecMem {
 public:
  /// Capacity is `min_bytes` rounded up to whole pages, at least one page.
  /// Throws secbits::Error if the region cannot be mapped or prepared, or if
  /// locking fails under LockPolicy::Strict.
  explicit SecMem(std::size_t min_bytes, LockPolicy policy = LockPolicy::Strict);
  /// An empty region (no pages, data() == nullptr), as a move leaves behind.
  SecMem() noexcept = default;
  ~SecMem();

  SecMem(SecMem&& other) noexcept;
  SecMem& operator=(SecMem&& other) noexcept;
  SecMem(const SecMem&) = delete;
  SecMem& operator=(const SecMem&) = delete;

  std::byte* data() const noexcept { return data_; }
  std::size_t capacity() const noexcept { return capacity_; }
  Protection protection() const noexcept { return protection_; }
  /// False only when LockPolicy::Degrade accepted a refused mlock.
  bool is_locked() const noexcept { return locked_; }

  /// Changes the access to every page of the region. Throws secbits::Error
  /// (e.g. ENOMEM when vm.max_map_count is reached).
  void protect(Protection protection);

 private:
  void release() noexcept;

  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  Protection protection_ = Protection::NoAccess;
  bool locked_ = false;
};

}  // namespace secbits
