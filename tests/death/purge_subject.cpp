// A program that holds secrets and then dies of one signal, for
// purge_on_death_test.cpp, which reads its memory from outside just before
// it is gone. It writes each secret, 32 random bytes, straight from where it
// lives to descriptor 3: no copy of it exists anywhere else in the process.
//
//   purge_subject KIND HANDLER TRIGGER [PURGE]
//   KIND     malloc   secrets in malloc'd blocks (run under the interposer)
//            library  secrets in secbits::allocate blocks and a SecMem
//   HANDLER  none     the signal's default action
//            chain    a handler of the program's that says so on stderr,
//                     restores the default action and raises the signal again
//            recover  a SIGSEGV handler that opens the faulting page and
//                     returns: the program goes on, secrets intact, exit 0
//   TRIGGER  segv bus ill fpe abrt quit trap term int hup
//   PURGE    library only: off | fatal | all (secbits::set_purge_signals)
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <secbits/pool.hpp>
#include <secbits/secmem.hpp>

namespace {

constexpr std::size_t kSecretBytes = 32;
constexpr int kSecretsFd = 3;

std::byte* trap_page = nullptr;

void fill_and_report(void* where) {
  if (::getrandom(where, kSecretBytes, 0) != static_cast<ssize_t>(kSecretBytes)) std::abort();
  if (::write(kSecretsFd, where, kSecretBytes) != static_cast<ssize_t>(kSecretBytes)) std::abort();
}

std::uint64_t checksum(const void* data) {
  std::uint64_t hash = 1469598103934665603ull;
  for (std::size_t i = 0; i < kSecretBytes; ++i) hash = (hash ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ull;
  return hash;
}

void chain_handler(int signal) {
  static const char message[] = "program handler ran\n";
  (void)!::write(STDERR_FILENO, message, sizeof message - 1);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void recover_handler(int, siginfo_t* info, void*) {
  static const char message[] = "program handler recovered\n";
  (void)!::write(STDERR_FILENO, message, sizeof message - 1);
  auto page = reinterpret_cast<std::uintptr_t>(info->si_addr) & ~std::uintptr_t{4095};
  ::mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE);
}

int signal_of(std::string_view trigger) {
  if (trigger == "segv") return SIGSEGV;
  if (trigger == "bus") return SIGBUS;
  if (trigger == "ill") return SIGILL;
  if (trigger == "fpe") return SIGFPE;
  if (trigger == "abrt") return SIGABRT;
  if (trigger == "quit") return SIGQUIT;
  if (trigger == "trap") return SIGTRAP;
  if (trigger == "term") return SIGTERM;
  if (trigger == "int") return SIGINT;
  if (trigger == "hup") return SIGHUP;
  return 0;
}

/// The fault itself where the hardware can raise it; the others as a
/// program's bug or its neighbour would send them.
void trigger(std::string_view what, int signal) {
  if (what == "segv") {
    *reinterpret_cast<volatile char*>(trap_page) = 1;
  } else if (what == "ill") {
    __builtin_trap();
  } else if (what == "fpe") {
    // Both operands volatile: GCC turns 1 / x into a compare, which never traps.
    volatile int dividend = 7;
    volatile int zero = 0;
    volatile int quotient = dividend / zero;
    (void)quotient;
  } else if (what == "abrt") {
    std::abort();
  } else {
    ::kill(::getpid(), signal);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: purge_subject malloc|library none|chain|recover SIGNAL [off|fatal|all]\n");
    return 2;
  }
  const std::string_view kind = argv[1];
  const std::string_view handler = argv[2];
  const std::string_view what = argv[3];
  const int signal = signal_of(what);
  if (signal == 0) return 2;

  trap_page = static_cast<std::byte*>(::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (handler == "chain") {
    std::signal(signal, chain_handler);
  } else if (handler == "recover") {
    struct sigaction action = {};
    action.sa_sigaction = recover_handler;
    action.sa_flags = SA_SIGINFO;
    ::sigaction(SIGSEGV, &action, nullptr);
  }

  void* small = nullptr;
  void* large = nullptr;
  secbits::SecMem* region = nullptr;
  if (kind == "malloc") {
    small = std::malloc(48);
    large = std::malloc(200000);
  } else {
    if (argc > 4) {
      const std::string_view purge = argv[4];
      secbits::set_purge_signals(purge == "off"   ? secbits::PurgeSignals::None
                                 : purge == "all" ? secbits::PurgeSignals::FatalAndTermination
                                                  : secbits::PurgeSignals::Fatal);
    }
    small = secbits::allocate(48);
    large = secbits::allocate(200000);
    region = new secbits::SecMem(4096);
    region->protect(secbits::Protection::ReadWrite);
    fill_and_report(region->data());
    region->protect(secbits::Protection::NoAccess);
  }
  fill_and_report(small);
  fill_and_report(large);
  const std::uint64_t before = checksum(small) ^ checksum(large);
  ::close(kSecretsFd);

  trigger(what, signal);

  // Only a recovered fault (or an ignored signal) gets here.
  if ((checksum(small) ^ checksum(large)) != before) {
    std::fprintf(stderr, "secrets changed after the handler recovered\n");
    return 1;
  }
  std::fprintf(stderr, "secrets intact\n");
  return 0;
}
