#pragma once

#include <cstdint>

// How the pool names a pointer a caller handed in that is not a live block.
namespace secbits::pool {

/// What the caller was doing with the block: the diagnostic says it.
enum class BlockUse : std::uint8_t { Free, Reallocate, UsableSize };

/// Aborts with one line naming `pointer`: it does not start a block.
[[noreturn, gnu::cold]] void not_a_block(const void* pointer, BlockUse use) noexcept;
/// Aborts with one line naming `pointer`: its block is already free.
[[noreturn, gnu::cold]] void block_already_freed(const void* pointer, BlockUse use) noexcept;

}  // namespace secbits::pool
