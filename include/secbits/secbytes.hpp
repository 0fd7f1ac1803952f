#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <secbits/export.hpp>
#include <secbits/protection.hpp>
#include <secbits/secmem.hpp>

namespace secbits {

class SecReadView;
class SecWriteView;

/// A growable secret buffer in a SecMem. Its pages rest in NoAccess; read()
/// and write() hand out RAII views that open them and close them again when
/// the last view ends. Every region it maps, the first and each one growth
/// moves the content to, comes from the same page source (see SecMem):
/// the one given to the constructor, or else the process default,
/// secbits::page_source(), as it is when the region is mapped.
///
/// Views are checked at run time, like a borrow: any number of read views, or
/// one write view, and nothing that changes the buffer (append, clear, write)
/// while a view is open. Breaking that rule throws secbits::Error
/// (std::errc::device_or_resource_busy) and changes nothing. Destroying or
/// moving a SecBytes while a view is open aborts, as the view would dangle.
///
/// read() may be called from several threads at once on one const SecBytes&.
class SECBITS_API SecBytes {
 public:
  SecBytes() noexcept = default;
  /// Reserves at least `capacity` bytes up front (rounded up to whole pages).
  explicit SecBytes(std::size_t capacity, LockPolicy policy = LockPolicy::Strict);
  /// As above, with every region from `source`: PageSource::Secret throws
  /// secbits::Error where the kernel refuses secret memory (on growth too),
  /// and under LockPolicy::Degrade a region over the lock budget is
  /// anonymous and unlocked instead (see SecMem).
  SecBytes(std::size_t capacity, LockPolicy policy, PageSource source);
  ~SecBytes();

  SecBytes(SecBytes&& other) noexcept;
  SecBytes& operator=(SecBytes&& other) noexcept;
  SecBytes(const SecBytes&) = delete;
  SecBytes& operator=(const SecBytes&) = delete;

  /// Copies `source` to the end of the buffer, then wipes `source` with a
  /// zeroing the compiler cannot remove. Grows geometrically (x2): the content
  /// moves to a new region and the old one is wiped before it is released.
  /// On any error (overflow, out of memory, lock refused, open view) throws
  /// secbits::Error and leaves both the buffer and `source` untouched.
  void append(std::span<std::byte> source);
  /// As above; wipes the string's whole capacity, then leaves it empty.
  void append(std::string& source);
  /// As above; wipes the vector's whole capacity, then leaves it empty.
  void append(std::vector<unsigned char>& source);

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return memory_.capacity(); }
  bool empty() const noexcept { return size_ == 0; }
  /// False only when LockPolicy::Degrade accepted a refused mlock (or a
  /// refused secret mapping).
  bool is_locked() const noexcept { return memory_.data() == nullptr || memory_.is_locked(); }
  /// Whether the buffer's pages are secret memory; false while it has none.
  bool is_secret() const noexcept;

  /// Wipes the content; the capacity stays.
  void clear();

  /// Shared, read-only access; the pages are ReadOnly while any read view lives.
  SecReadView read() const;
  /// Exclusive, read-write access; the pages are ReadWrite while it lives.
  SecWriteView write();

 private:
  friend class SecReadView;
  friend class SecWriteView;

  void append_copy(std::span<const std::byte> source);
  void end_read() const noexcept;
  void end_write() noexcept;
  // Caller holds views_mutex_.
  void require_no_view(const char* operation) const;

  // SecMem::protect is not const, but opening a read view on a const buffer
  // must flip the pages: the protection is access state, not content.
  mutable SecMem memory_{};
  std::size_t size_ = 0;
  // The lock policy in the low byte, the page source asked for in the next
  // one (0: the process default; else 1 + the PageSource). One word, as the
  // lock policy alone was in 0.1: programs built against 0.1 inline a
  // default constructor that zeroes this word but not the padding after
  // it, where a field of its own would read as whatever the stack held.
  std::uint32_t settings_ = 0;
  mutable std::mutex views_mutex_;
  mutable std::size_t readers_ = 0;
  bool writing_ = false;
};

/// Read access to a SecBytes; the pages stay ReadOnly until the last read view
/// ends. Move-only.
class SECBITS_API SecReadView {
 public:
  SecReadView(SecReadView&& other) noexcept;
  SecReadView& operator=(SecReadView&&) = delete;
  SecReadView(const SecReadView&) = delete;
  SecReadView& operator=(const SecReadView&) = delete;
  ~SecReadView();

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<const std::byte> as_span() const noexcept { return {data_, size_}; }

 private:
  friend class SecBytes;
  SecReadView(const SecBytes* owner, const std::byte* data, std::size_t size) noexcept
      : owner_(owner), data_(data), size_(size) {}

  const SecBytes* owner_;
  const std::byte* data_;
  std::size_t size_;
};

/// Exclusive write access to a SecBytes; the pages stay ReadWrite until it
/// ends. Move-only.
class SECBITS_API SecWriteView {
 public:
  SecWriteView(SecWriteView&& other) noexcept;
  SecWriteView& operator=(SecWriteView&&) = delete;
  SecWriteView(const SecWriteView&) = delete;
  SecWriteView& operator=(const SecWriteView&) = delete;
  ~SecWriteView();

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> as_span() const noexcept { return {data_, size_}; }

 private:
  friend class SecBytes;
  SecWriteView(SecBytes* owner, std::byte* data, std::size_t size) noexcept
      : owner_(owner), data_(data), size_(size) {}

  SecBytes* owner_;
  std::byte* data_;
  std::size_t size_;
};

}  // namespace secbits
