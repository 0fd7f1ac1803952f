#include "audit/proc_files.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace secbits::audit {

// open/read, not ifstream: a stream does not promise to keep errno.
ProcFile read_proc_file(const std::string& path) {
  ProcFile file;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    file.error = errno;
    return file;
  }
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      file.text.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0) {
      break;
    } else if (errno != EINTR) {
      file.error = errno;
      file.text.clear();
      break;
    }
  }
  ::close(fd);
  return file;
}

}  // namespace secbits::audit
