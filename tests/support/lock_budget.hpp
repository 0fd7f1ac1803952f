#pragma once

#include <cstddef>

namespace secbits::test {

/// For a forked child only: drops CAP_IPC_LOCK from the effective and
/// permitted sets (root ignores RLIMIT_MEMLOCK otherwise) and sets the soft
/// and hard RLIMIT_MEMLOCK to `bytes`. Returns false if either step failed.
bool drop_lock_privilege(std::size_t bytes);

}  // namespace secbits::test
