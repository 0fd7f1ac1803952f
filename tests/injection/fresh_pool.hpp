#pragma once

// Tests of the pool as another kernel, or a kernel at its limits, would
// serve it, through the OS layer's seam (src/os/injection.hpp). What the
// seam changes must be in place before the pool reserves its range, so every
// test runs in a forked child of a process that never touched the pool:
// each child starts with a pool that does not exist yet.
#include <functional>
#include <iostream>
#include <string>

#include "pool/region.hpp"
#include "support/child.hpp"

namespace secbits::test {

/// run_in_child, after checking that the child's pool is still unreserved.
inline ChildResult run_with_fresh_pool(const std::function<int()>& body) {
  return run_in_child([&body] {
    if (secbits::pool::g_region.base.load() != 0) {
      std::cout << "FAILED: the pool was reserved before the fork; run this binary's tests one per process\n";
      return 120;
    }
    return body();
  });
}

/// The child's report of a broken expectation: one line, exit status 1.
inline int broken(const std::string& why) {
  std::cout << "FAILED: " << why << std::endl;
  return 1;
}

}  // namespace secbits::test
