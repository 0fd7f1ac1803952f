#pragma once

#include "pool/source/page_source.hpp"

namespace secbits::pool {

/// Private anonymous memory: mlock'ed on first touch (MLOCK_ONFAULT),
/// MADV_DONTDUMP. A forked child inherits it copy-on-write and relocks it.
Source& anonymous_source() noexcept;

}  // namespace secbits::pool
