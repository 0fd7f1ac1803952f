#include "os/pages.hpp"

#include <atomic>
#include <cerrno>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::os {

namespace {

constinit std::atomic<testing::ReleaseObserver> release_observer{nullptr};

int to_prot(Protection protection) noexcept {
  switch (protection) {
    case Protection::NoAccess: return PROT_NONE;
    case Protection::ReadOnly: return PROT_READ;
    case Protection::ReadWrite: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

Status result(int rc, const char* operation) noexcept { return {rc == 0 ? 0 : errno, operation}; }

}  // namespace

std::size_t page_size() noexcept {
  // getauxval reads the aux vector the kernel gave us: no syscall, no static
  // with a dynamic initialiser, safe before any constructor has run.
  static_assert(sizeof(unsigned long) == sizeof(std::size_t));
  return ::getauxval(AT_PAGESZ);
}

bool round_to_pages(std::size_t bytes, std::size_t* rounded) noexcept {
  const std::size_t page = page_size();
  std::size_t padded;
  if (__builtin_add_overflow(bytes, page - 1, &padded)) return false;
  *rounded = padded & ~(page - 1);
  return true;
}

Status map_guarded(std::size_t usable_bytes, std::byte** usable) noexcept {
  const std::size_t page = page_size();
  std::size_t total;
  if (__builtin_add_overflow(usable_bytes, 2 * page, &total)) return {ENOMEM, "mmap"};
  void* base = ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return {errno, "mmap"};
  std::byte* inside = static_cast<std::byte*>(base) + page;
  if (::mprotect(inside, usable_bytes, PROT_READ | PROT_WRITE) != 0) {
    const int error = errno;
    ::munmap(base, total);
    return {error, "mprotect"};
  }
  *usable = inside;
  return {};
}

Status unmap_guarded(std::byte* usable, std::size_t usable_bytes) noexcept {
  if (auto observer = release_observer.load(std::memory_order_acquire)) observer(usable, usable_bytes);
  const std::size_t page = page_size();
  return result(::munmap(usable - page, usable_bytes + 2 * page), "munmap");
}

Status reserve(std::size_t bytes, std::byte** base) noexcept {
  void* mapped = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return {errno, "mmap"};
  *base = static_cast<std::byte*>(mapped);
  return {};
}

Status map_bookkeeping(std::size_t bytes, void** base) noexcept {
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return {errno, "mmap"};
  *base = mapped;
  return {};
}

Status return_to_reservation(void* pages, std::size_t bytes) noexcept {
  void* mapped = ::mmap(pages, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (mapped != MAP_FAILED) return exclude_from_dump(pages, bytes);
  // At vm.max_map_count the kernel refuses even a mapping that only replaces
  // pages. Drop their contents and locks in place instead: they stay a
  // mapping of their own, but hold nothing.
  (void)::syscall(SYS_munlock, pages, bytes);
  (void)::madvise(pages, bytes, MADV_DONTNEED);
  return protect(pages, bytes, Protection::NoAccess);
}

Status protect(void* pages, std::size_t bytes, Protection protection) noexcept {
  return result(::mprotect(pages, bytes, to_prot(protection)), "mprotect");
}

Status exclude_from_dump(void* pages, std::size_t bytes) noexcept {
  return result(::madvise(pages, bytes, MADV_DONTDUMP), "madvise(MADV_DONTDUMP)");
}

Status wipe_on_fork(void* pages, std::size_t bytes) noexcept {
  return result(::madvise(pages, bytes, MADV_WIPEONFORK), "madvise(MADV_WIPEONFORK)");
}

void testing::set_release_observer(ReleaseObserver observer) noexcept {
  release_observer.store(observer, std::memory_order_release);
}

}  // namespace secbits::os
