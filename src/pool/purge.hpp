#pragma once

// Wiping every secret at once: secbits::purge(), and the pool's handler of
// fatal signals (death_purge.hpp).
namespace secbits::pool {

/// Zeroes every live block of the pool (small and large) and every region
/// remembered for purging (SecMem), and stops the canary checks, which would
/// take a zeroed canary for an overflow. Async-signal-safe: no lock, no
/// allocation, safe whatever the interrupted thread was doing. Blocks stay
/// allocated: their owners may still free them.
void purge() noexcept;

}  // namespace secbits::pool
