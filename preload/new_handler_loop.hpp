#pragma once

#include <new>

namespace secbits::preload {

/// operator new once a try has failed: runs the new-handler and tries again,
/// until a block comes or no handler is left (std::bad_alloc).
template <class Attempt>
void* retry_through_new_handler(Attempt attempt) {
  for (;;) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
    if (void* block = attempt()) return block;
  }
}

}  // namespace secbits::preload
