#include "support/child.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sys/wait.h>
#include <unistd.h>

namespace secbits::test {

ChildResult run_in_child(const std::function<int()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) std::abort();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    // Sanitizer runtimes turn a SIGSEGV into a report and exit(1); the tests
    // want to see the signal itself.
    std::signal(SIGSEGV, SIG_DFL);
    std::signal(SIGBUS, SIG_DFL);
    // An exception must not escape into the test framework: the child would
    // go on running the rest of the suite as if it were the parent.
    int code = 125;
    try {
      code = body();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "uncaught exception in child: %s\n", error.what());
    } catch (...) {
      std::fprintf(stderr, "uncaught exception in child\n");
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  ChildResult result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) result.output.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace secbits::test
