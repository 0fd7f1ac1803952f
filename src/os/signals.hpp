#pragma once

#include <signal.h>

// Installing signal actions and raising a signal again, for the pool's
// purge on death. Both are async-signal-safe.
namespace secbits::os {

/// sigaction(2) by its name: under the interposer, which exports one of its
/// own, the call goes through it (see pool/death_purge.cpp). 0 or -1 with
/// errno.
int set_signal_action(int signal, const struct sigaction* action, struct sigaction* old) noexcept;

/// Sends `signal` to the calling thread. Called from inside a handler with
/// the signal blocked, it stays pending until the handler returns, and is
/// then delivered under whatever action the kernel has by that time.
void raise_in_this_thread(int signal) noexcept;

}  // namespace secbits::os
