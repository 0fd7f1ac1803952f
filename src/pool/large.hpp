#pragma once

#include <cstddef>

#include "pool/block_check.hpp"

// Blocks above the largest size class: page runs at the start of spans of
// 2^k pages in the large zone. A span commits only the block's pages; the
// rest of it stays PROT_NONE and is the block's trailing guard (the previous
// span's tail is its leading one). A freed block is wiped and its span kept
// for the next block of its size (large.cpp says how long, and how long it
// may stay open), or decommitted.
namespace secbits::pool {

bool large_initialise(std::byte* zone, std::size_t bytes) noexcept;

/// Null with errno ENOMEM when the zone or the lock budget is exhausted.
/// `zeroed`: the block must read zero (a span kept open since its free is
/// wiped again; every other block is zero already).
void* large_allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept;
/// Aborts with a one-line diagnostic unless `pointer` starts a live block.
void large_free(void* pointer) noexcept;
/// Aborts, naming `use`, unless `pointer` starts a live block.
std::size_t large_usable_size(const void* pointer, BlockUse use) noexcept;
/// Grows or shrinks a block within its span; false if it does not fit there
/// (the block is then unchanged).
bool large_resize_in_place(void* pointer, std::size_t size) noexcept;

/// Gives back the freed spans kept committed and locked for reuse. True if
/// there were any: their locks count against RLIMIT_MEMLOCK and their
/// mappings against the pool's budget, which a new block may need.
bool large_release_cache() noexcept;

/// Closes the freed spans waiting open in the cache (collect()).
void large_close_cached() noexcept;

/// Purge's part: zeroes every live block. Async-signal-safe.
void large_wipe_live_blocks() noexcept;

/// relock_pool's part: every live and cached span.
void large_relock(const char* because) noexcept;
/// renew_pool_in_child's part: every live, cached and busy span.
void large_renew_in_child() noexcept;

}  // namespace secbits::pool
