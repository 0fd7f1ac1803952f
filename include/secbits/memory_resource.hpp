#pragma once

#include <memory_resource>

#include <secbits/export.hpp>

namespace secbits {

/// The process-wide std::pmr::memory_resource over the secure pool. It honours
/// every power-of-two alignment, including above the page size; is_equal is
/// true only for itself. Allocation failure throws std::bad_alloc.
SECBITS_API std::pmr::memory_resource* secure_memory_resource() noexcept;

}  // namespace secbits
