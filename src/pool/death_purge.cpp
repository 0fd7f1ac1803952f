#include "pool/death_purge.hpp"

#include <atomic>
#include <cstdint>

#include "os/diagnostics.hpp"
#include "os/signals.hpp"
#include "pool/purge.hpp"

namespace secbits::pool {

namespace {

constexpr int kFatalSignals[] = {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGQUIT, SIGSEGV, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ};
constexpr int kTerminationSignals[] = {SIGTERM, SIGINT, SIGHUP};
constexpr int kSignalCount = 65;

constinit std::atomic<PurgeSignals> chosen{PurgeSignals::Fatal};
constinit std::atomic<bool> started{false};

// Per signal: is our handler the kernel's action, and the program's action
// behind it. The action is kept twice and `generation`'s parity says which
// copy is current, so that a handler reads a whole one while a sigaction
// call writes the other. Writers hold `writer` with every signal blocked: a
// handler that calls sigaction cannot find the lock taken by the very thread
// it interrupted. While a thread holds it, its own calls of sigaction (which
// under the interposer come back to adopt_program_action) go to the kernel.
struct Slot {
  std::atomic<bool> ours{false};
  std::atomic<std::uint32_t> generation{0};
  struct sigaction program[2] = {};
};
constinit Slot slots[kSignalCount] = {};
constinit std::atomic_flag writer = ATOMIC_FLAG_INIT;
[[gnu::tls_model("initial-exec")]] constinit thread_local bool tl_writing = false;

class WriterLock {
 public:
  WriterLock() noexcept {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
    while (writer.test_and_set(std::memory_order_acquire)) {
    }
    tl_writing = true;
  }
  ~WriterLock() {
    tl_writing = false;
    writer.clear(std::memory_order_release);
    ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  sigset_t saved_;
};

/// sigaction straight to the kernel, even from a handler (no lock held).
int kernel_action(int signal, const struct sigaction* action, struct sigaction* old) noexcept {
  const bool was_writing = tl_writing;
  tl_writing = true;
  const int result = os::set_signal_action(signal, action, old);
  tl_writing = was_writing;
  return result;
}

bool on_purge(int signal, PurgeSignals signals) noexcept {
  if (signals == PurgeSignals::None) return false;
  for (const int fatal : kFatalSignals) {
    if (fatal == signal) return true;
  }
  if (signals != PurgeSignals::FatalAndTermination) return false;
  for (const int termination : kTerminationSignals) {
    if (termination == signal) return true;
  }
  return false;
}

bool is_function(const struct sigaction& action) noexcept {
  return action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
}

const struct sigaction& current_program_action(int signal) noexcept {
  Slot& slot = slots[signal];
  return slot.program[slot.generation.load(std::memory_order_acquire) & 1];
}

void record_program_action(int signal, const struct sigaction& action) noexcept {
  Slot& slot = slots[signal];
  const std::uint32_t generation = slot.generation.load(std::memory_order_relaxed);
  slot.program[(generation + 1) & 1] = action;
  slot.generation.store(generation + 1, std::memory_order_release);
}

void purge_and_die(int signal) noexcept;
void on_signal(int signal, siginfo_t* info, void* context) noexcept;

/// Our action, with the flags and mask the program asked for its own
/// handler, which runs inside ours.
struct sigaction our_action(const struct sigaction& program) noexcept {
  struct sigaction action = {};
  action.sa_sigaction = on_signal;
  action.sa_mask = program.sa_mask;
  // SA_ONSTACK always: a stack overflow is a fatal signal too, and can only
  // be handled where the program set up an alternate stack.
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | (program.sa_flags & (SA_RESTART | SA_NODEFER));
  return action;
}

/// Whether the program's handler, having returned, has left the signal to
/// kill the process: it set the default action itself (through us, or
/// straight to the kernel), or the signal is SIGABRT, which abort() raises
/// again with the default action once a handler returns.
bool program_left_it_to_kill(int signal, std::uint32_t generation_before) noexcept {
  if (signal == SIGABRT) return true;
  Slot& slot = slots[signal];
  if (slot.generation.load(std::memory_order_acquire) != generation_before &&
      current_program_action(signal).sa_handler == SIG_DFL) {
    return true;
  }
  struct sigaction kernel = {};
  if (kernel_action(signal, nullptr, &kernel) != 0) return false;
  return (kernel.sa_flags & SA_SIGINFO) == 0 && kernel.sa_handler == SIG_DFL;
}

void on_signal(int signal, siginfo_t* info, void* context) noexcept {
  const os::ErrnoGuard keep_errno;
  Slot& slot = slots[signal];
  std::uint32_t generation = slot.generation.load(std::memory_order_acquire);
  const struct sigaction program = slot.program[generation & 1];
  if (!is_function(program)) {
    if (program.sa_handler == SIG_DFL) purge_and_die(signal);
    return;
  }
  if ((program.sa_flags & SA_RESETHAND) != 0) {
    struct sigaction reset = {};
    reset.sa_handler = SIG_DFL;
    record_program_action(signal, reset);
    generation = slot.generation.load(std::memory_order_relaxed);
  }
  if ((program.sa_flags & SA_SIGINFO) != 0) {
    program.sa_sigaction(signal, info, context);
  } else {
    program.sa_handler(signal);
  }
  if (program_left_it_to_kill(signal, generation)) purge();
}

/// Purges, gives the signal its default action and raises it again: it is
/// delivered, and kills, as soon as our handler returns.
void purge_and_die(int signal) noexcept {
  purge();
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  (void)kernel_action(signal, &default_action, nullptr);
  slots[signal].ours.store(false, std::memory_order_relaxed);
  os::raise_in_this_thread(signal);
}

/// Puts our handler on `signal` unless it is there or the signal is ignored.
void take_signal(int signal) noexcept {
  Slot& slot = slots[signal];
  if (slot.ours.load(std::memory_order_relaxed)) return;
  struct sigaction previous = {};
  if (kernel_action(signal, nullptr, &previous) != 0 || previous.sa_handler == SIG_IGN) return;
  record_program_action(signal, previous);
  const struct sigaction ours = our_action(previous);
  if (kernel_action(signal, &ours, nullptr) == 0) slot.ours.store(true, std::memory_order_relaxed);
}

/// Gives the program's action back to the kernel.
void give_back_signal(int signal) noexcept {
  Slot& slot = slots[signal];
  if (!slot.ours.load(std::memory_order_relaxed)) return;
  (void)kernel_action(signal, &current_program_action(signal), nullptr);
  slot.ours.store(false, std::memory_order_relaxed);
}

void apply(PurgeSignals signals) noexcept {
  const WriterLock lock;
  for (int signal = 1; signal < kSignalCount; ++signal) {
    if (on_purge(signal, signals)) {
      take_signal(signal);
    } else {
      give_back_signal(signal);
    }
  }
}

}  // namespace

void death_purge_child_after_fork() noexcept { writer.clear(std::memory_order_release); }

void set_purge_signals(PurgeSignals signals) noexcept {
  chosen.store(signals, std::memory_order_relaxed);
  started.store(true, std::memory_order_relaxed);
  apply(signals);
}

void choose_purge_signals(PurgeSignals signals) noexcept { chosen.store(signals, std::memory_order_relaxed); }

PurgeSignals purge_signals() noexcept { return chosen.load(std::memory_order_relaxed); }

void start_death_purge() noexcept {
  if (started.exchange(true, std::memory_order_acq_rel)) return;
  apply(chosen.load(std::memory_order_relaxed));
}

bool adopt_program_action(int signal, const struct sigaction* action, struct sigaction* old) noexcept {
  if (signal <= 0 || signal >= kSignalCount || tl_writing) return false;
  const WriterLock lock;
  Slot& slot = slots[signal];
  if (!slot.ours.load(std::memory_order_relaxed)) {
    // Off the purge because the program ignored it: back on when it stops.
    if (action == nullptr || action->sa_handler == SIG_IGN || !started.load(std::memory_order_relaxed) ||
        !on_purge(signal, chosen.load(std::memory_order_relaxed))) {
      return false;
    }
    struct sigaction previous = {};
    if (kernel_action(signal, nullptr, &previous) != 0) return false;
    if (old != nullptr) *old = previous;
    record_program_action(signal, *action);
    const struct sigaction ours = our_action(*action);
    if (kernel_action(signal, &ours, nullptr) == 0) slot.ours.store(true, std::memory_order_relaxed);
    return true;
  }
  if (old != nullptr) *old = current_program_action(signal);
  if (action == nullptr) return true;
  if (action->sa_handler == SIG_IGN) {
    if (kernel_action(signal, action, nullptr) == 0) slot.ours.store(false, std::memory_order_relaxed);
    record_program_action(signal, *action);
    return true;
  }
  record_program_action(signal, *action);
  const struct sigaction ours = our_action(*action);
  (void)kernel_action(signal, &ours, nullptr);
  return true;
}

}  // namespace secbits::pool
