#pragma once

// What the stand-alone preload test programs check about themselves: that
// the interposer really serves this process, and where a block lies.
#include <dlfcn.h>

#include <cstdio>
#include <string>

#include "support/smaps.hpp"

namespace secbits::preload_test {

/// The file of the shared object that defines this process's malloc.
inline std::string malloc_provider() {
  Dl_info info{};
  void* resolved = ::dlsym(RTLD_DEFAULT, "malloc");
  if (resolved == nullptr || ::dladdr(resolved, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

/// False, with a message, unless LD_PRELOAD put the interposer in charge:
/// without it, a test of robustness would only test glibc.
inline bool malloc_is_interposed() {
  const std::string provider = malloc_provider();
  const std::string suffix = "/libsecbits_preload.so";
  if (provider.size() >= suffix.size() && provider.compare(provider.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return true;
  }
  std::fprintf(stderr, "FAILED: malloc is defined by %s, not libsecbits_preload.so: run with LD_PRELOAD\n",
               provider.c_str());
  return false;
}

/// The pool's guarantee as the kernel reports it: the block lies in a
/// mapping that is locked (VmFlags lo) and excluded from core dumps (dd).
inline bool in_secure_memory(const void* block) {
  const auto mapping = secbits::test::mapping_containing(block);
  return mapping && mapping->has_flag("lo") && mapping->has_flag("dd");
}

}  // namespace secbits::preload_test
