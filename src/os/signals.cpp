#include "os/signals.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace secbits::os {

int set_signal_action(int signal, const struct sigaction* action, struct sigaction* old) noexcept {
  return ::sigaction(signal, action, old);
}

void raise_in_this_thread(int signal) noexcept {
  // tgkill rather than raise(), which in glibc blocks every signal around
  // the call: one syscall is all this needs.
  (void)::syscall(SYS_tgkill, ::getpid(), ::gettid(), signal);
}

}  // namespace secbits::os
