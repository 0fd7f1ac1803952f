#include "support/secret_memory.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447  // x86-64 and arm64; Debian 12's headers lack it
#endif

namespace secbits::test {

// Asked of the kernel directly, not through the library: the tests must not
// take the library's word for what they check it against.
int secret_memory_error() {
  const long fd = ::syscall(SYS_memfd_secret, O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(static_cast<int>(fd));
  return 0;
}

}  // namespace secbits::test
