// What the interposer tells stderr: at start-up with SECBITS_VERBOSE=1, a
// warning whenever the program's malloc is not ours, and the pool's
// statistics at exit with SECBITS_STATS=1 (text) or =json. Never through
// stdio or malloc.
#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <secbits/secbits.h>

#include "os/diagnostics.hpp"
#include "os/memlock.hpp"
#include "pool/hardening.hpp"
#include "pool/region.hpp"
#include "pool/sealing.hpp"
#include "pool/stats.hpp"
#include "preload/options.hpp"
#include "preload/router.hpp"

// Our malloc under a name no other object can take (libc_exports.cpp).
extern "C" void* secbits_preload_own_malloc(size_t size) noexcept __attribute__((visibility("hidden")));

namespace secbits::preload {

namespace {

const char* name_of(LockPolicy policy) { return policy == LockPolicy::Strict ? "strict" : "degrade"; }

const char* name_of(PageSource source) {
  switch (source) {
    case PageSource::Anonymous: return "anonymous";
    case PageSource::Secret: return "secret";
    case PageSource::Auto: return "auto";
  }
  return "?";
}

const char* name_of(PageProtection protection) {
  switch (protection) {
    case PageProtection::Cached: return "cached";
    case PageProtection::Eager: return "eager";
    case PageProtection::None: return "none";
  }
  return "?";
}

const char* name_of(PurgeSignals signals) {
  switch (signals) {
    case PurgeSignals::None: return "off";
    case PurgeSignals::Fatal: return "fatal signals";
    case PurgeSignals::FatalAndTermination: return "fatal and termination signals";
  }
  return "?";
}

void announce() noexcept {
  char pid[21];
  char limit[21];
  char level[21];
  const std::size_t budget = os::memlock_limit();
  const char* parts[] = {"secbits: interposer active in process ", os::format_decimal(static_cast<unsigned long long>(::getpid()), pid),
                         g_options.mode == Mode::All ? ", mode all (every heap block secure)"
                                                     : ", mode tagged (secbits API and secure scopes secure, jemalloc for the rest)",
                         "; lock policy ", name_of(g_options.lock), ", RLIMIT_MEMLOCK ",
                         budget == SIZE_MAX ? "unlimited" : os::format_decimal(budget, limit),
                         budget == SIZE_MAX ? "" : " bytes", "; page protection ", name_of(g_options.protect),
                         "; page source ", name_of(g_options.source), "; hardening level ",
                         os::format_decimal(pool::g_hardening.load(std::memory_order_relaxed), level),
                         "; purge on ", name_of(g_options.purge)};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

/// A program that defines and exports its own malloc is found before any
/// preloaded library: every allocation then bypasses secbits, silently
/// unless someone says so.
void check_malloc_is_ours() noexcept {
  void* resolved = ::dlsym(RTLD_DEFAULT, "malloc");
  if (resolved == reinterpret_cast<void*>(&secbits_preload_own_malloc)) return;
  // A non-PIE executable that takes malloc's address in code (python3.11)
  // has a canonical PLT entry: its dynamic symbol is undefined but has a
  // value, and dlsym returns that address, which jumps to us.
  Dl_info info;
  ElfW(Sym)* symbol = nullptr;
  if (::dladdr1(resolved, &info, reinterpret_cast<void**>(&symbol), RTLD_DL_SYMENT) != 0 && symbol != nullptr &&
      symbol->st_shndx == SHN_UNDEF) {
    return;
  }
  char hex[19];
  const char* parts[] = {"secbits: this process's malloc (", os::format_hex(reinterpret_cast<std::uintptr_t>(resolved), hex),
                         ") is not the interposer's: the program or a library defines its own, and its heap is "
                         "NOT protected by secbits"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

void print_stats(const struct secbits_stats& stats) noexcept {
  char numbers[14][21];
  const long sealed = pool::sealed_mappings();
  const char* parts[] = {
      "secbits: stats: in use ", os::format_decimal(stats.bytes_in_use, numbers[0]),
      " bytes (peak ", os::format_decimal(stats.peak_bytes_in_use, numbers[1]),
      "), committed ", os::format_decimal(stats.bytes_committed, numbers[2]),
      ", locked ", os::format_decimal(stats.bytes_locked, numbers[3]),
      ", unlocked ", os::format_decimal(stats.bytes_unlocked, numbers[4]),
      ", slabs ", os::format_decimal(stats.slabs, numbers[5]),
      ", large blocks ", os::format_decimal(stats.large_blocks, numbers[6]),
      ", mappings ", os::format_decimal(stats.vmas, numbers[7]),
      ", protection flips ", os::format_decimal(stats.protection_flips, numbers[8]),
      " (skipped ", os::format_decimal(stats.flips_skipped, numbers[9]),
      "), lock failures ", os::format_decimal(stats.lock_failures, numbers[10]),
      ", page source ", name_of(pool::current_page_source()),
      ", hardening level ", os::format_decimal(pool::g_hardening.load(std::memory_order_relaxed), numbers[12]),
      sealed < 0 ? ", sealing absent (no mseal in this kernel)" : ", sealed mappings ",
      sealed < 0 ? nullptr : os::format_decimal(static_cast<unsigned long long>(sealed), numbers[13]),
      g_options.mode == Mode::Tagged ? "; jemalloc holds " : nullptr,
      g_options.mode == Mode::Tagged ? os::format_decimal(stats.fallback_bytes_in_use, numbers[11]) : nullptr,
      g_options.mode == Mode::Tagged ? " bytes of untagged blocks" : nullptr};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
}

/// A line assembled on the stack: more parts than write_stderr_line takes,
/// and the destructor that prints it may run with the heap in any state.
class StackLine {
 public:
  void append(const char* text) noexcept {
    while (*text != '\0' && used_ < sizeof text_ - 1) text_[used_++] = *text++;
  }
  void append(unsigned long long value) noexcept {
    char digits[21];
    append(os::format_decimal(value, digits));
  }
  const char* c_str() noexcept {
    text_[used_] = '\0';
    return text_;
  }

 private:
  char text_[1024];  // the longest line, every number at 20 digits, is 510 bytes
  std::size_t used_ = 0;
};

/// One JSON object on one line, the counters under secbits_stats's names,
/// so that a log pipeline picks it out of the program's stderr by its event.
void print_stats_json(const struct secbits_stats& stats) noexcept {
  StackLine line;
  line.append("{\"event\":\"secbits_stats\",\"pid\":");
  line.append(static_cast<unsigned long long>(::getpid()));
  line.append(g_options.mode == Mode::Tagged ? ",\"mode\":\"tagged\"" : ",\"mode\":\"all\"");
  line.append(",\"source\":\"");
  line.append(name_of(pool::current_page_source()));
  line.append("\",\"hardening\":");
  line.append(static_cast<unsigned long long>(pool::g_hardening.load(std::memory_order_relaxed)));
  // -1 where the kernel has no mseal.
  line.append(",\"sealed_mappings\":");
  if (const long sealed = pool::sealed_mappings(); sealed < 0) {
    line.append("-1");
  } else {
    line.append(static_cast<unsigned long long>(sealed));
  }
  const struct {
    const char* key;
    std::size_t value;
  } counters[] = {
      {",\"bytes_in_use\":", stats.bytes_in_use},
      {",\"peak_bytes_in_use\":", stats.peak_bytes_in_use},
      {",\"bytes_committed\":", stats.bytes_committed},
      {",\"bytes_locked\":", stats.bytes_locked},
      {",\"bytes_unlocked\":", stats.bytes_unlocked},
      {",\"slabs\":", stats.slabs},
      {",\"large_blocks\":", stats.large_blocks},
      {",\"vmas\":", stats.vmas},
      {",\"protection_flips\":", stats.protection_flips},
      {",\"flips_skipped\":", stats.flips_skipped},
      {",\"lock_failures\":", stats.lock_failures},
      // 0 in mode all: the same keys in every line make a simpler schema.
      {",\"fallback_bytes_in_use\":", stats.fallback_bytes_in_use},
  };
  for (const auto& [key, value] : counters) {
    line.append(key);
    line.append(static_cast<unsigned long long>(value));
  }
  line.append("}");
  const char* parts[] = {line.c_str()};
  os::write_stderr_line(parts, 1);
}

// Runs after libc is up (allocations may well have come earlier): the place
// for the checks that need dlsym, which no allocation path may call.
[[gnu::constructor]] void on_load() {
  ready_route();
  if (g_options.mode == Mode::Tagged) bind_jemalloc_calls();
  if (g_options.verbose) announce();
  check_malloc_is_ours();
}

[[gnu::destructor]] void on_exit() {
  if (g_options.stats == StatsFormat::Off) return;
  struct secbits_stats stats {};
  pool::snapshot(&stats);
  if (g_options.stats == StatsFormat::Json) print_stats_json(stats);
  else print_stats(stats);
}

}  // namespace

}  // namespace secbits::preload
