#pragma once

// Reading /proc with the errno kept: whether a process has exited (ENOENT,
// ESRCH) or may not be read (EACCES) decides what the audit says of it.
#include <string>

namespace secbits::audit {

struct ProcFile {
  std::string text;
  int error = 0;  // errno of the open or read that failed; 0 when read
};

/// The whole file. A process that exits between open and read leaves an
/// empty file, not an error: the caller decides what empty means.
ProcFile read_proc_file(const std::string& path);

}  // namespace secbits::audit
