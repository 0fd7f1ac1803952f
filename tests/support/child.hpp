#pragma once

#include <functional>
#include <string>

namespace secbits::test {

/// How a forked child ended, and everything it wrote on stdout and stderr.
struct ChildResult {
  bool exited = false;  // true: exit_code is set; false: killed by term_signal
  int exit_code = -1;
  int term_signal = 0;
  std::string output;
};

/// Runs `body` in a forked child whose stdout and stderr go to a pipe; the
/// child exits with the value `body` returns (or dies trying), or with 125
/// if `body` throws (the exception's message is in the output).
ChildResult run_in_child(const std::function<int()>& body);

}  // namespace secbits::test
