#pragma once

#include <cstddef>
#include <string>

namespace secbits::test {

/// For a forked child only: drops CAP_IPC_LOCK from the effective and
/// permitted sets (root ignores RLIMIT_MEMLOCK otherwise) and sets the soft
/// and hard RLIMIT_MEMLOCK to `bytes`. Returns false if either step failed.
bool drop_lock_privilege(std::size_t bytes);

/// What limits locking for this process, for failure messages: e.g.
/// "CAP_IPC_LOCK: no, RLIMIT_MEMLOCK: 8388608 bytes".
std::string describe_lock_budget();

}  // namespace secbits::test
