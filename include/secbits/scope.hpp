#pragma once

#include <secbits/secbits.h>

namespace secbits {

/// While a secure_scope lives on a thread, every allocation that thread makes
/// through plain malloc or new, its own or any library's it calls, comes from
/// the secure pool, when the process runs under the interposer in tagged mode
/// (SECBITS_MODE=tagged):
///
///   { secbits::secure_scope scope; SSL_CTX_use_PrivateKey_file(ctx, path, type); }
///
/// Such blocks may be freed anywhere, inside a scope or not, by any thread.
/// Scopes nest, belong to the thread that opens them, and cost no syscall and
/// no lock. In whole-process mode every block is secure anyway; without the
/// interposer a scope does nothing for plain malloc (the secbits API stays
/// secure either way).
class secure_scope {
 public:
  secure_scope() noexcept { secbits_scope_enter(); }
  ~secure_scope() { secbits_scope_leave(); }
  secure_scope(const secure_scope&) = delete;
  secure_scope& operator=(const secure_scope&) = delete;
};

}  // namespace secbits
