#include "pool/hardening.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/auxv.h>
#include <sys/random.h>

#include <new>

#include "os/diagnostics.hpp"
#include "pool/layout.hpp"
#include "pool/sealing.hpp"
#include "pool/source/page_source.hpp"

namespace secbits::pool {

constinit std::atomic<unsigned> g_hardening{kDefaultHardening};
constinit std::atomic<bool> g_hardened{false};
constinit std::atomic<bool> g_canaries{false};

namespace {
constinit std::atomic<bool> purged{false};
}  // namespace

namespace {

struct CanarySecret {
  std::uint64_t words[2];
};

// On a page of its own, outside the pool (an overflow out of a block cannot
// reach it), read-only and sealed once drawn: a stray write cannot replace
// it, nor an mprotect or munmap make room for one. Static storage only where
// no page could be mapped.
constinit CanarySecret fallback_secret{};
constinit const CanarySecret* canary_secret = &fallback_secret;

void draw_into(CanarySecret& secret) noexcept {
  if (::getrandom(secret.words, sizeof secret.words, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof secret.words)) {
    return;
  }
  // Early in boot the entropy pool may not be ready; the 16 random bytes the
  // kernel hands every process at exec are.
  if (const auto* at_random = reinterpret_cast<const void*>(::getauxval(AT_RANDOM))) {
    std::memcpy(secret.words, at_random, sizeof secret.words);
  }
}

void draw_canary_secret() noexcept {
  void* page = nullptr;
  if (!map_bookkeeping(kPageSize, &page).ok()) {
    draw_into(fallback_secret);
    return;
  }
  auto* secret = ::new (page) CanarySecret;
  draw_into(*secret);
  (void)seal_read_only(page, kPageSize);
  canary_secret = secret;
}

[[noreturn]] void fatal_block(const char* what, const void* block, std::size_t usable, const char* extra,
                              std::size_t extra_value) noexcept {
  char hex[19];
  char usable_text[21];
  char extra_text[21];
  const char* parts[] = {"secbits: ",
                         what,
                         " ",
                         os::format_hex(reinterpret_cast<unsigned long long>(block), hex),
                         " (block of ",
                         os::format_decimal(usable, usable_text),
                         " bytes",
                         extra,
                         extra != nullptr ? os::format_decimal(extra_value, extra_text) : nullptr,
                         ")"};
  os::write_stderr_line(parts, sizeof parts / sizeof parts[0]);
  std::abort();
}

}  // namespace

void start_hardening() noexcept {
  const unsigned level = g_hardening.load(std::memory_order_relaxed);
  if (level >= 3) draw_canary_secret();
  g_canaries.store(level >= 3, std::memory_order_relaxed);
  g_hardened.store(level >= 2, std::memory_order_relaxed);
}

void note_blocks_purged() noexcept { purged.store(true, std::memory_order_relaxed); }
bool blocks_purged() noexcept { return purged.load(std::memory_order_relaxed); }

std::uint64_t canary_at(const void* tail) noexcept {
  const CanarySecret& secret = *canary_secret;
  std::uint64_t mixed = (reinterpret_cast<std::uintptr_t>(tail) ^ secret.words[0]) * 0xff51afd7ed558ccdULL;
  mixed ^= (mixed >> 33) + secret.words[1];
  mixed *= 0xc4ceb9fe1a85ec53ULL;
  mixed ^= mixed >> 29;
  return mixed | 0x0101010101010101ULL;
}

const void* canary_secret_location() noexcept { return canary_secret; }

void heap_overflow(const void* block, std::size_t usable) noexcept {
  fatal_block("heap overflow detected", block, usable, nullptr, 0);
}

void written_after_free(const void* block, std::size_t usable) noexcept {
  fatal_block("write after free detected", block, usable, nullptr, 0);
}

void wrong_size_freed(const void* block, std::size_t usable, std::size_t given) noexcept {
  fatal_block("sized free with the wrong size", block, usable, ", size given ", given);
}

}  // namespace secbits::pool
