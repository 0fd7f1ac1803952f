#pragma once

#include "pool/source/page_source.hpp"

namespace secbits::pool {

/// Secret memory (memfd_secret): every commit is a file of its own, mapped
/// shared at its place in the reservation; see secret_source.cpp for what
/// that means for locks, fork, decommit and the mapping count.
Source& secret_source() noexcept;

/// Whole-process mode's fork: the parent waits in its fork handler until the
/// child has copied its secret pages, so that the child never sees a write
/// the parent makes after fork() returns. Called by fork.cpp around fork;
/// the child's is called once every range is renewed.
void secret_prepare_fork() noexcept;
void secret_parent_after_fork() noexcept;
void secret_child_after_fork() noexcept;

}  // namespace secbits::pool
