// secbits.h: one line per function over the pool and the C rules.
#include <secbits/secbits.h>

#include <cerrno>

#include "pool/death_purge.hpp"
#include "pool/hardening.hpp"
#include "pool/purge.hpp"
#include "pool/sealing.hpp"
#include "pool/options.hpp"
#include "pool/pool_heap.hpp"
#include "pool/region.hpp"
#include "pool/stats.hpp"

using secbits::pool::PoolC;

extern "C" {

void* secbits_malloc(size_t size) { return PoolC::malloc(size); }
void* secbits_calloc(size_t count, size_t size) { return PoolC::calloc(count, size); }
void* secbits_realloc(void* pointer, size_t size) { return PoolC::realloc(pointer, size); }
void* secbits_aligned_alloc(size_t alignment, size_t size) { return PoolC::aligned_alloc(alignment, size); }
void secbits_free(void* pointer) { PoolC::free(pointer); }
size_t secbits_usable_size(const void* pointer) { return PoolC::usable_size(pointer); }
int secbits_owns(const void* pointer) { return secbits::pool::owns(pointer) ? 1 : 0; }
void secbits_stats(struct secbits_stats* out) { secbits::pool::snapshot(out); }

void secbits_set_lock_policy(enum secbits_lock_policy policy) {
  secbits::pool::g_lock_policy.store(
      policy == SECBITS_LOCK_DEGRADE ? secbits::LockPolicy::Degrade : secbits::LockPolicy::Strict,
      std::memory_order_relaxed);
}

void secbits_set_page_protection(enum secbits_page_protection protection) {
  secbits::PageProtection value = secbits::PageProtection::Cached;
  if (protection == SECBITS_PROTECT_EAGER) value = secbits::PageProtection::Eager;
  if (protection == SECBITS_PROTECT_NONE) value = secbits::PageProtection::None;
  secbits::pool::g_page_protection.store(value, std::memory_order_relaxed);
}

int secbits_set_page_source(enum secbits_page_source source) {
  secbits::PageSource value = secbits::PageSource::Anonymous;
  if (source == SECBITS_SOURCE_SECRET) value = secbits::PageSource::Secret;
  else if (source == SECBITS_SOURCE_AUTO) value = secbits::PageSource::Auto;
  else if (source != SECBITS_SOURCE_ANONYMOUS) value = static_cast<secbits::PageSource>(-1);
  if (const int error = secbits::pool::request_page_source(value); error != 0) {
    errno = error;
    return -1;
  }
  return 0;
}

enum secbits_page_source secbits_get_page_source(void) {
  switch (secbits::pool::current_page_source()) {
    case secbits::PageSource::Secret: return SECBITS_SOURCE_SECRET;
    case secbits::PageSource::Auto: return SECBITS_SOURCE_AUTO;
    case secbits::PageSource::Anonymous: break;
  }
  return SECBITS_SOURCE_ANONYMOUS;
}

int secbits_set_hardening(int level) {
  if (const int error = secbits::pool::request_hardening(level < 0 ? UINT32_MAX : static_cast<unsigned>(level));
      error != 0) {
    errno = error;
    return -1;
  }
  return 0;
}

int secbits_get_hardening(void) {
  return static_cast<int>(secbits::pool::g_hardening.load(std::memory_order_relaxed));
}

void secbits_purge(void) { secbits::pool::purge(); }

int secbits_set_purge_signals(enum secbits_purge_signals signals) {
  switch (signals) {
    case SECBITS_PURGE_NONE: secbits::pool::set_purge_signals(secbits::PurgeSignals::None); return 0;
    case SECBITS_PURGE_FATAL: secbits::pool::set_purge_signals(secbits::PurgeSignals::Fatal); return 0;
    case SECBITS_PURGE_FATAL_AND_TERMINATION:
      secbits::pool::set_purge_signals(secbits::PurgeSignals::FatalAndTermination);
      return 0;
  }
  errno = EINVAL;
  return -1;
}

enum secbits_purge_signals secbits_get_purge_signals(void) {
  switch (secbits::pool::purge_signals()) {
    case secbits::PurgeSignals::None: return SECBITS_PURGE_NONE;
    case secbits::PurgeSignals::FatalAndTermination: return SECBITS_PURGE_FATAL_AND_TERMINATION;
    case secbits::PurgeSignals::Fatal: break;
  }
  return SECBITS_PURGE_FATAL;
}

long secbits_sealed_mappings(void) { return secbits::pool::sealed_mappings(); }

void secbits_collect(void) { secbits::pool::collect_thread(); }

}  // extern "C"
