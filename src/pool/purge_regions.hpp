#pragma once

#include <cstddef>

#include <secbits/protection.hpp>

// Memory outside the pool that a purge wipes too: every live SecMem (and so
// every SecBytes). Recorded without a lock so that a purge from a signal
// handler can walk the records whatever the interrupted thread was doing.
namespace secbits::pool {

/// Records a region of whole pages with its current protection. False if no
/// page for the records could be mapped (the region is then not purged).
bool remember_region(void* data, std::size_t bytes, Protection protection) noexcept;
/// The protection the region's owner just gave it, which a purge restores.
void note_region_protection(void* data, Protection protection) noexcept;
/// Before the owner unmaps the region.
void forget_region(void* data) noexcept;

/// Opens each recorded region, wipes it and gives it its protection back.
/// Async-signal-safe: no lock, no allocation.
void wipe_remembered_regions() noexcept;

}  // namespace secbits::pool
