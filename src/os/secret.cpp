#include "os/secret.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/injection.hpp"
#include "os/memlock.hpp"
#include "os/pages.hpp"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447  // x86-64 and arm64; Debian 12's headers may lack it
#endif

namespace secbits::os {

namespace {

/// A secret file of `bytes`, or -1 with errno set.
int open_secret_file(std::size_t bytes) noexcept {
  if (const int error = injected_error(Operation::Secret)) {
    errno = error;
    return -1;
  }
  const int fd = static_cast<int>(::syscall(SYS_memfd_secret, O_CLOEXEC));
  if (fd < 0) return -1;
  if (bytes != 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

Status map_file(int fd, void* at, std::size_t bytes, int prot, std::byte** mapped) noexcept {
  void* result = ::mmap(at, bytes, prot, MAP_SHARED | (at != nullptr ? MAP_FIXED : 0), fd, 0);
  const int error = errno;
  ::close(fd);
  if (result == MAP_FAILED) return {error, "mmap of secret memory"};
  if (mapped != nullptr) *mapped = static_cast<std::byte*>(result);
  return {};
}

}  // namespace

Status probe_secret_memory() noexcept {
  // A page mapped and unmapped, not only the file: a kernel may hand out the
  // file and still refuse to map it (ENOMEM, EINVAL). Untouched, the page
  // costs nothing.
  const std::size_t page = page_size();
  const int fd = open_secret_file(page);
  if (fd < 0) return {errno, "memfd_secret"};
  std::byte* mapped = nullptr;
  if (const Status status = map_file(fd, nullptr, page, PROT_READ | PROT_WRITE, &mapped); !status.ok()) return status;
  (void)::munmap(mapped, page);
  return {};
}

Status map_secret(void* at, std::size_t bytes, Protection protection) noexcept {
  const int fd = open_secret_file(bytes);
  if (fd < 0) return {errno, "memfd_secret"};
  return map_file(fd, at, bytes, protection_flags(protection), nullptr);
}

Status map_secret_anywhere(std::size_t bytes, std::byte** mapped) noexcept {
  const int fd = open_secret_file(bytes);
  if (fd < 0) return {errno, "memfd_secret"};
  return map_file(fd, nullptr, bytes, PROT_READ | PROT_WRITE, mapped);
}

Status exclude_from_fork(void* pages, std::size_t bytes) noexcept {
  if (const int error = injected_error(Operation::Advise)) return {error, "madvise(MADV_DONTFORK)"};
  if (::madvise(pages, bytes, MADV_DONTFORK) != 0) return {errno, "madvise(MADV_DONTFORK)"};
  return {};
}

Status move_mapping(void* from, std::size_t bytes, void* to) noexcept {
  if (::mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) return {errno, "mremap"};
  return {};
}

Status map_guarded_secret(std::size_t usable_bytes, std::byte** usable) noexcept {
  std::byte* inside = nullptr;
  if (const Status status = map_guarded(usable_bytes, &inside); !status.ok()) return status;
  Status status = map_secret(inside, usable_bytes, Protection::NoAccess);
  if (status.ok()) status = exclude_from_fork(inside, usable_bytes);
  if (!status.ok()) {
    // A failed MAP_FIXED may already have unmapped the middle: one munmap of
    // the whole range removes whatever is left.
    (void)unmap(inside - page_size(), usable_bytes + 2 * page_size());
    return status;
  }
  *usable = inside;
  return {};
}

bool is_secret_budget_error(Status status) noexcept {
  // memfd_secret and ftruncate charge nothing; map_file's mmap is the step
  // that counts the pages against RLIMIT_MEMLOCK.
  return std::strcmp(status.operation, "mmap of secret memory") == 0 && is_lock_budget_error(status.error);
}

Status resident_pages(void* pages, std::size_t bytes, unsigned char* residency) noexcept {
  if (::mincore(pages, bytes, residency) != 0) return {errno, "mincore"};
  return {};
}

}  // namespace secbits::os
