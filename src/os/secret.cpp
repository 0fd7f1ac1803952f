#include "os/secret.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/injection.hpp"
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
  const int fd = open_secret_file(0);
  if (fd < 0) return {errno, "memfd_secret"};
  ::close(fd);
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

Status resident_pages(void* pages, std::size_t bytes, unsigned char* residency) noexcept {
  if (::mincore(pages, bytes, residency) != 0) return {errno, "mincore"};
  return {};
}

}  // namespace secbits::os
