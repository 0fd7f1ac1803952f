#pragma once

#include <signal.h>

#include <secbits/protection.hpp>

// The purge on death: a handler on the fatal signals (and, if asked, the
// termination ones) that wipes every secret before the signal's action
// kills the process. The program's own handler for such a signal is kept
// behind ours and runs first; if the signal then goes on to kill the process
// (the action is the default one, or the handler asked for it), the purge
// runs before it does.
namespace secbits::pool {

/// The signals the purge is on from now on: installs our handler on those it
/// was not on, and gives back the others' actions. Any time; also from a
/// program that installed handlers of its own after the pool started (ours
/// then chains them).
void set_purge_signals(PurgeSignals signals) noexcept;
/// The signals to put the handler on when it starts, without starting it
/// (the interposer's SECBITS_PURGE, read before the pool starts).
void choose_purge_signals(PurgeSignals signals) noexcept;
PurgeSignals purge_signals() noexcept;

/// Installs the handler on the chosen signals, once; called as the pool
/// starts and as the first SecMem is made.
void start_death_purge() noexcept;

/// For the interposer's sigaction: true if `signal` is one the purge is on,
/// in which case the program's action is recorded to run behind ours (and
/// `old`, if not null, gets the program's previous one) instead of reaching
/// the kernel. False otherwise: the caller passes the call to the kernel.
/// SIG_IGN goes to the kernel, and takes the signal off the purge until the
/// program sets another action.
bool adopt_program_action(int signal, const struct sigaction* action, struct sigaction* old) noexcept;

/// In a forked child: the lock on the actions may have been held by a thread
/// of the parent that the child does not have. Its half-written copy of an
/// action is never the current one, so the lock can simply be let go.
void death_purge_child_after_fork() noexcept;

}  // namespace secbits::pool
