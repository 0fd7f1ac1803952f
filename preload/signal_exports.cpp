// The signal calls of the C library, so that a handler the program installs
// for a signal the purge on death is on (pool/death_purge.hpp) runs behind
// ours instead of replacing it: the purge then still happens when the signal
// goes on to kill the process. Other signals, and SIG_IGN, go straight to
// glibc.
#include <signal.h>

#include "pool/death_purge.hpp"

extern "C" int __sigaction(int signal, const struct sigaction* action, struct sigaction* old);

namespace {

/// signal() and its relatives are sigaction with fixed flags, as glibc
/// builds them.
sighandler_t install(int signal, sighandler_t handler, int flags, bool block_the_signal) {
  struct sigaction action = {};
  action.sa_handler = handler;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  if (block_the_signal && sigaddset(&action.sa_mask, signal) != 0) return SIG_ERR;
  struct sigaction old = {};
  if (::sigaction(signal, &action, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] int sigaction(int signal, const struct sigaction* action, struct sigaction* old) {
  if (secbits::pool::adopt_program_action(signal, action, old)) return 0;
  return __sigaction(signal, action, old);
}

// BSD semantics, glibc's signal(): the handler stays, the signal is blocked
// while it runs, interrupted calls restart.
[[gnu::visibility("default")]] sighandler_t bsd_signal(int signal, sighandler_t handler) {
  return install(signal, handler, SA_RESTART, true);
}
[[gnu::visibility("default")]] sighandler_t signal(int signal, sighandler_t handler) {
  return install(signal, handler, SA_RESTART, true);
}

// System V semantics: the handler runs once, with the signal not blocked.
[[gnu::visibility("default")]] sighandler_t sysv_signal(int signal, sighandler_t handler) {
  return install(signal, handler, SA_RESETHAND | SA_NODEFER, false);
}
[[gnu::visibility("default")]] sighandler_t __sysv_signal(int signal, sighandler_t handler) {
  return install(signal, handler, SA_RESETHAND | SA_NODEFER, false);
}

}  // extern "C"
