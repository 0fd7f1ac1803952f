#include "pool/options.hpp"

namespace secbits::pool {

constinit std::atomic<LockPolicy> g_lock_policy{LockPolicy::Strict};
constinit std::atomic<PageProtection> g_page_protection{PageProtection::Cached};
constinit std::atomic<PageSource> g_requested_source{PageSource::Anonymous};

}  // namespace secbits::pool
