#pragma once

#include <atomic>

#include <secbits/protection.hpp>

// The pool's run-time policies. Read with relaxed loads on slow paths only.
namespace secbits::pool {

extern constinit std::atomic<LockPolicy> g_lock_policy;
// Hidden in the declaration too: return_block reads it directly, not
// through the GOT.
[[gnu::visibility("hidden")]] extern constinit std::atomic<PageProtection> g_page_protection;
/// The source asked for; the pool resolves Auto when it is first used.
extern constinit std::atomic<PageSource> g_requested_source;

}  // namespace secbits::pool
