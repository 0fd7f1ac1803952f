#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

#include <secbits/export.hpp>

namespace secbits {

/// Every failure secbits reports in C++ is a secbits::Error: the error code
/// (an errno value in std::generic_category) plus a message that names the
/// operation that failed and, where it helps, what to do about it, e.g.
/// "mlock of 8192 bytes failed: Cannot allocate memory (RLIMIT_MEMLOCK is
/// 65536 bytes; raise it or grant CAP_IPC_LOCK)".
class SECBITS_API Error : public std::system_error {
 public:
  /// what() reads "<context>: <description of code>" and, when a hint is
  /// given, " (<hint>)" after it.
  Error(std::error_code code, const std::string& context, const std::string& hint = {});

  const char* what() const noexcept override;

 private:
  // std::runtime_error shares its string between copies without throwing,
  // which keeps Error nothrow-copyable as exceptions must be.
  std::runtime_error message_;
};

}  // namespace secbits
