#pragma once

namespace secbits::os {

/// The outcome of one system call: 0 or the errno it failed with, and the
/// call's name so that whoever reports it can say which operation failed.
struct Status {
  int error = 0;
  const char* operation = "";

  constexpr bool ok() const noexcept { return error == 0; }
};

}  // namespace secbits::os
