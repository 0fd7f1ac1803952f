#pragma once

#include <atomic>

#include <secbits/protection.hpp>

// The pool's run-time policies. Read with relaxed loads on slow paths only.
namespace secbits::pool {

extern constinit std::atomic<LockPolicy> g_lock_policy;
extern constinit std::atomic<PageProtection> g_page_protection;
/// The source asked for; the pool resolves Auto when it is first used.
extern constinit std::atomic<PageSource> g_requested_source;
/// What a forked child gets where the pool's secret pages were: a private
/// copy (the interposer's whole-process mode, whose children keep using the
/// heap they inherit) or zero-filled pages (the secbits API and tagged mode:
/// a child cannot read its parent's secrets, as SecMem's MADV_WIPEONFORK).
enum class SecretPagesInChild { Zeroed, Copied };
extern constinit std::atomic<SecretPagesInChild> g_secret_pages_in_child;

}  // namespace secbits::pool
