// pool.hpp: the pool for C++, failing with std::bad_alloc.
#include <secbits/pool.hpp>

#include <cerrno>
#include <new>

#include <secbits/error.hpp>

#include "pool/death_purge.hpp"
#include "pool/hardening.hpp"
#include "pool/options.hpp"
#include "pool/pool.hpp"
#include "pool/purge.hpp"
#include "pool/region.hpp"
#include "pool/sealing.hpp"
#include "pool/stats.hpp"

namespace secbits {

void* allocate(std::size_t size, std::size_t alignment) {
  void* block = pool::allocate_aligned(size, alignment);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

void deallocate(void* pointer) noexcept { pool::deallocate(pointer); }

PoolStats stats() noexcept {
  PoolStats out{};
  pool::snapshot(&out);
  return out;
}

void set_lock_policy(LockPolicy policy) noexcept { pool::g_lock_policy.store(policy, std::memory_order_relaxed); }

void set_page_protection(PageProtection protection) noexcept {
  pool::g_page_protection.store(protection, std::memory_order_relaxed);
}

void set_page_source(PageSource source) {
  if (const int error = pool::request_page_source(source); error != 0) {
    throw Error(std::error_code(error, std::system_category()),
                error == EBUSY ? "set_page_source: the pool is already in use"
                               : "set_page_source: the kernel refuses secret memory (memfd_secret)");
  }
}

PageSource page_source() noexcept { return pool::current_page_source(); }

void set_hardening(unsigned level) {
  if (const int error = pool::request_hardening(level); error != 0) {
    throw Error(std::error_code(error, std::system_category()),
                error == EBUSY ? "set_hardening: the pool already runs at another level"
                               : "set_hardening: levels go from 0 to 3");
  }
}

unsigned hardening() noexcept { return pool::g_hardening.load(std::memory_order_relaxed); }

void purge() noexcept { pool::purge(); }

void set_purge_signals(PurgeSignals signals) noexcept { pool::set_purge_signals(signals); }

PurgeSignals purge_signals() noexcept { return pool::purge_signals(); }

long sealed_mappings() noexcept { return pool::sealed_mappings(); }

void collect() noexcept { pool::collect_thread(); }

}  // namespace secbits
