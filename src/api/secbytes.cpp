#include <secbits/secbytes.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include <secbits/error.hpp>
#include <secbits/pool.hpp>

#include "api/os_error.hpp"
#include "os/diagnostics.hpp"
#include "os/pages.hpp"
#include "os/wipe.hpp"

namespace secbits {

namespace {

[[noreturn]] void throw_busy(const char* operation) {
  throw Error(std::make_error_code(std::errc::device_or_resource_busy),
              std::string(operation) + " while a view of the buffer is open");
}

/// For paths that cannot report an error: a secret region that cannot be
/// closed again must not stay open silently.
void protect_or_abort(SecMem& memory, Protection protection) noexcept {
  try {
    memory.protect(protection);
  } catch (const Error& error) {
    os::fatal_errno("cannot change the protection of a secret region", memory.data(), error.code().value());
  }
}

/// Opens the pages holding bytes [offset, offset + length) of a region at
/// rest for the length of a scope, and returns them to NoAccess after,
/// whatever happens in between. Opening only the pages an append touches
/// keeps its cost independent of the buffer's size (mprotect's cost grows
/// with the number of pages it changes).
class OpenPages {
 public:
  OpenPages(SecMem& memory, Protection protection) : OpenPages(memory, protection, 0, memory.capacity()) {}
  OpenPages(SecMem& memory, Protection protection, std::size_t offset, std::size_t length) {
    const std::size_t page = os::page_size();
    const std::size_t first = offset & ~(page - 1);
    begin_ = memory.data() + first;
    length_ = ((offset + length + page - 1) & ~(page - 1)) - first;
    if (const os::Status status = os::protect(begin_, length_, protection); !status.ok()) {
      detail::throw_os_error(status, length_);
    }
  }
  ~OpenPages() {
    if (const os::Status status = os::protect(begin_, length_, Protection::NoAccess); !status.ok()) {
      os::fatal_errno("cannot return a secret region to NoAccess", begin_, status.error);
    }
  }
  OpenPages(const OpenPages&) = delete;
  OpenPages& operator=(const OpenPages&) = delete;

 private:
  std::byte* begin_;
  std::size_t length_;
};

// settings_ (see secbytes.hpp): the policy in bits 0-7, the source in 8-15.
constexpr std::uint32_t kProcessDefault = 0;

constexpr std::uint32_t settings_of(LockPolicy policy, std::uint32_t source) noexcept {
  return static_cast<std::uint32_t>(policy) | (source << 8);
}

constexpr std::uint32_t source_setting(PageSource source) noexcept { return 1 + static_cast<std::uint32_t>(source); }

constexpr LockPolicy policy_of(std::uint32_t settings) noexcept { return static_cast<LockPolicy>(settings & 0xFF); }

/// A region from the source the settings ask for, looked up now for the
/// process default.
SecMem map_region(std::size_t capacity, std::uint32_t settings) {
  const std::uint32_t source = (settings >> 8) & 0xFF;
  return SecMem(capacity, policy_of(settings),
                source == kProcessDefault ? page_source() : static_cast<PageSource>(source - 1));
}

}  // namespace

SecBytes::SecBytes(std::size_t capacity, LockPolicy policy) : settings_(settings_of(policy, kProcessDefault)) {
  if (capacity != 0) memory_ = map_region(capacity, settings_);
}

SecBytes::SecBytes(std::size_t capacity, LockPolicy policy, PageSource source)
    : settings_(settings_of(policy, source_setting(source))) {
  if (capacity != 0) memory_ = map_region(capacity, settings_);
}

bool SecBytes::is_secret() const noexcept { return memory_.is_secret(); }

SecBytes::~SecBytes() {
  if (readers_ != 0 || writing_) os::fatal("SecBytes destroyed while a view is open", this);
}

SecBytes::SecBytes(SecBytes&& other) noexcept : settings_(other.settings_) {
  if (other.readers_ != 0 || other.writing_) os::fatal("SecBytes moved while a view is open", &other);
  memory_ = std::move(other.memory_);
  size_ = std::exchange(other.size_, 0);
}

SecBytes& SecBytes::operator=(SecBytes&& other) noexcept {
  if (this == &other) return *this;
  if (readers_ != 0 || writing_) os::fatal("SecBytes assigned to while a view is open", this);
  if (other.readers_ != 0 || other.writing_) os::fatal("SecBytes moved while a view is open", &other);
  memory_ = std::move(other.memory_);
  size_ = std::exchange(other.size_, 0);
  settings_ = other.settings_;
  return *this;
}

void SecBytes::require_no_view(const char* operation) const {
  if (readers_ != 0 || writing_) throw_busy(operation);
}

void SecBytes::append_copy(std::span<const std::byte> source) {
  std::lock_guard lock(views_mutex_);
  require_no_view("SecBytes::append");
  if (source.empty()) return;
  std::size_t needed = 0;
  if (__builtin_add_overflow(size_, source.size(), &needed)) {
    throw Error(std::make_error_code(std::errc::value_too_large),
                "SecBytes::append of " + std::to_string(source.size()) + " bytes to a buffer of " +
                    std::to_string(size_) + " bytes overflows size_t");
  }
  if (needed <= memory_.capacity()) {
    OpenPages open(memory_, Protection::ReadWrite, size_, source.size());
    std::memcpy(memory_.data() + size_, source.data(), source.size());
  } else {
    const std::size_t current = memory_.capacity();
    const std::size_t doubled = current > SIZE_MAX / 2 ? needed : std::max(needed, 2 * current);
    SecMem grown = map_region(doubled, settings_);
    {
      OpenPages open_new(grown, Protection::ReadWrite);
      if (size_ != 0) {
        OpenPages open_old(memory_, Protection::ReadOnly);
        std::memcpy(grown.data(), memory_.data(), size_);
      }
      std::memcpy(grown.data() + size_, source.data(), source.size());
    }
    // The old region is wiped, unlocked and unmapped by SecMem's assignment.
    memory_ = std::move(grown);
  }
  size_ = needed;
}

namespace {

/// Wipes a caller's source buffer. An empty span or a vector without storage
/// has no data at all: memset(nullptr, 0, 0) is undefined behaviour.
void wipe_source(void* data, std::size_t bytes) noexcept {
  if (bytes != 0) os::secure_wipe(data, bytes);
}

}  // namespace

void SecBytes::append(std::span<std::byte> source) {
  append_copy(source);
  wipe_source(source.data(), source.size());
}

void SecBytes::append(std::string& source) {
  append_copy(std::as_bytes(std::span(source.data(), source.size())));
  // The whole capacity: bytes past size() may hold an earlier, longer value.
  wipe_source(source.data(), source.capacity());
  source.clear();
}

void SecBytes::append(std::vector<unsigned char>& source) {
  append_copy(std::as_bytes(std::span(source.data(), source.size())));
  wipe_source(source.data(), source.capacity());
  source.clear();
}

void SecBytes::clear() {
  std::lock_guard lock(views_mutex_);
  require_no_view("SecBytes::clear");
  if (size_ == 0) return;
  {
    OpenPages open(memory_, Protection::ReadWrite, 0, size_);
    os::secure_wipe(memory_.data(), size_);
  }
  size_ = 0;
}

SecReadView SecBytes::read() const {
  std::lock_guard lock(views_mutex_);
  if (writing_) throw_busy("SecBytes::read");
  // The count and the flip change together under the mutex, so a reader can
  // never see the pages go back to NoAccess while its view lives.
  if (readers_ == 0) memory_.protect(Protection::ReadOnly);
  ++readers_;
  return SecReadView(this, memory_.data(), size_);
}

SecWriteView SecBytes::write() {
  std::lock_guard lock(views_mutex_);
  require_no_view("SecBytes::write");
  memory_.protect(Protection::ReadWrite);
  writing_ = true;
  return SecWriteView(this, memory_.data(), size_);
}

void SecBytes::end_read() const noexcept {
  std::lock_guard lock(views_mutex_);
  if (--readers_ == 0) protect_or_abort(memory_, Protection::NoAccess);
}

void SecBytes::end_write() noexcept {
  std::lock_guard lock(views_mutex_);
  writing_ = false;
  protect_or_abort(memory_, Protection::NoAccess);
}

SecReadView::SecReadView(SecReadView&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), data_(other.data_), size_(other.size_) {}

SecReadView::~SecReadView() {
  if (owner_ != nullptr) owner_->end_read();
}

SecWriteView::SecWriteView(SecWriteView&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), data_(other.data_), size_(other.size_) {}

SecWriteView::~SecWriteView() {
  if (owner_ != nullptr) owner_->end_write();
}

}  // namespace secbits
