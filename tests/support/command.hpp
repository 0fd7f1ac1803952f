#pragma once

#include <cstddef>
#include <string>
#include <vector>

// Running a tool from a test (gdb's gcore), and a scratch directory for what
// it writes.
namespace secbits::test {

/// Runs `args` (searched on PATH) with its stdout and stderr into `log`, the
/// files it writes cut at `max_file_bytes`, for at most `seconds` (then its
/// whole process group is killed: gcore runs gdb); its exit status, or -1.
int run_command(const std::vector<std::string>& args, const std::string& log, std::size_t max_file_bytes,
                int seconds);

/// A fresh directory under /tmp, removed with everything in it on destruction.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace secbits::test
