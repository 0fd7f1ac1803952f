#pragma once

#include <cstddef>

#include <secbits/export.hpp>
#include <secbits/protection.hpp>

namespace secbits {

/// A page-aligned region of whole pages for one secret, with a PROT_NONE guard
/// page on each side. It starts in Protection::NoAccess. Its pages come from
/// one of two sources (PageSource):
///  - Anonymous: private anonymous memory, locked in RAM (mlock), excluded
///    from core dumps (MADV_DONTDUMP) and zero-filled in a forked child
///    (MADV_WIPEONFORK);
///  - Secret: memfd_secret(2) memory, which the kernel removes from its own
///    direct map (no other process, root included, can read it), locks
///    itself and leaves out of core dumps. A forked child sees zeros here
///    too, in fresh secret memory of its own: secret memory is shared
///    between processes, so the region is MADV_DONTFORK and the child maps
///    new pages in its place (or, if it cannot, PROT_NONE: it faults rather
///    than share the parent's). What the child writes never reaches the
///    parent.
/// On destruction the pages are wiped with a zeroing the compiler cannot
/// remove, unlocked (anonymous) and unmapped; if any of that fails the
/// process aborts with a one-line diagnostic rather than leave a secret
/// behind.
class SECBITS_API SecMem {
 public:
  /// Capacity is `min_bytes` rounded up to whole pages, at least one page.
  /// The source is the process default: secbits::page_source() (pool.hpp),
  /// Anonymous unless the program chose otherwise, PageSource::Auto taken
  /// as Secret where the kernel gives secret memory, else Anonymous.
  /// Throws secbits::Error if the region cannot be mapped or prepared, or if
  /// locking fails under LockPolicy::Strict.
  explicit SecMem(std::size_t min_bytes, LockPolicy policy = LockPolicy::Strict);
  /// As above, from `source`. PageSource::Secret where the kernel refuses
  /// secret memory throws secbits::Error with its errno (ENOSYS where it
  /// lacks memfd_secret or has it disabled). Secret memory is charged to
  /// RLIMIT_MEMLOCK when mapped: over the budget, LockPolicy::Strict throws
  /// and LockPolicy::Degrade maps unlocked anonymous memory instead
  /// (is_secret() and is_locked() false), said once on stderr.
  SecMem(std::size_t min_bytes, LockPolicy policy, PageSource source);
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
  /// False only when LockPolicy::Degrade accepted a refused mlock (or a
  /// refused secret mapping). Secret memory is locked by the kernel.
  bool is_locked() const noexcept { return locked_; }
  /// Whether the pages are secret memory (memfd_secret); false for an empty
  /// region.
  bool is_secret() const noexcept;

  /// Changes the access to every page of the region. Throws secbits::Error
  /// (e.g. ENOMEM when vm.max_map_count is reached).
  void protect(Protection protection);

 private:
  void release() noexcept;

  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  Protection protection_ = Protection::NoAccess;
  bool locked_ = false;
  // In the padding after locked_, so that sizeof(SecMem) stays what
  // programs built against 0.1 allocate. Their inline default constructor
  // leaves it unset: it is read only where data_ is set, which only the
  // library's constructors do.
  bool secret_ = false;
};

}  // namespace secbits
