#pragma once

namespace secbits::test {

/// 0 if this kernel gives secret memory (memfd_secret(2)), else the errno of
/// its refusal: ENOSYS where it lacks the call or has it disabled
/// (secretmem.enable=0), the only case the secret-source tests may skip.
int secret_memory_error();

}  // namespace secbits::test
