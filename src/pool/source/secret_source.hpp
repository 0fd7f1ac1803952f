#pragma once

#include "pool/source/page_source.hpp"

namespace secbits::pool {

/// Secret memory (memfd_secret): every commit is a file of its own, mapped
/// shared at its place in the reservation; see secret_source.cpp for what
/// that means for locks, fork, decommit and the mapping count.
Source& secret_source() noexcept;

}  // namespace secbits::pool
