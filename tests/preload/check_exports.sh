#!/usr/bin/env bash
# The interposer's dynamic symbol table must hold exactly the allocation
# functions, and the secbits API: an allocation function missing means that
# function silently reaches glibc's (or libstdc++'s) allocator and bypasses
# the pool; one extra name means the interposer overrides something it was
# never meant to (a helper of the pool, a libstdc++ inline, an exported std::
# symbol).
# Usage: check_exports.sh path/to/libsecbits_preload.so
set -euo pipefail

library=${1:?usage: check_exports.sh LIBRARY}
[[ -f $library ]] || { echo "no such file: $library" >&2; exit 1; }

expected=(
  # C
  malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
  malloc_usable_size free_sized free_aligned_sized cfree
  # glibc's internal names
  __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign __libc_valloc __libc_pvalloc
  __posix_memalign
  # operator new: plain, nothrow, aligned, aligned nothrow; single and array
  _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t
  _ZnwmSt11align_val_t _ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
  # operator delete: plain, sized, aligned, sized aligned, nothrow, aligned nothrow; single and array
  _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
  _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t
  _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t
)
if (( ${#expected[@]} != 42 )); then
  echo "check_exports.sh itself is wrong: ${#expected[@]} names listed, 22 C and 20 C++ expected" >&2
  exit 1
fi
# The secbits API, exported on purpose (preload/exports.map): a program
# linked with libsecbits.so must bind to the interposer's copy of the pool,
# not to a second pool of its own; and secure_scope's switch, which the
# router reads, must be the interposer's.
secbits_api=(
  secbits_malloc secbits_calloc secbits_realloc secbits_aligned_alloc secbits_free secbits_usable_size
  secbits_owns secbits_stats secbits_set_lock_policy secbits_set_page_protection secbits_collect
  secbits_scope_enter secbits_scope_leave secbits_set_page_source secbits_get_page_source
  _ZN7secbits8allocateEmm _ZN7secbits10deallocateEPv _ZN7secbits5statsEv _ZN7secbits7collectEv
  _ZN7secbits15set_lock_policyENS_10LockPolicyE _ZN7secbits19set_page_protectionENS_14PageProtectionE
  _ZN7secbits15set_page_sourceENS_10PageSourceE _ZN7secbits11page_sourceEv
  secbits_set_hardening secbits_get_hardening _ZN7secbits13set_hardeningEj _ZN7secbits9hardeningEv
  secbits_purge secbits_set_purge_signals secbits_get_purge_signals _ZN7secbits5purgeEv
  _ZN7secbits17set_purge_signalsENS_12PurgeSignalsE _ZN7secbits13purge_signalsEv
  secbits_sealed_mappings _ZN7secbits15sealed_mappingsEv
)
expected+=("${secbits_api[@]}")
# The memory calls that would otherwise unlock the pool or let it be dumped
# (preload/memory_calls.cpp).
expected+=(munlock munlockall madvise)
# The signal calls, so that a program's own handler for a signal the purge is
# on runs behind it (preload/signal_exports.cpp).
expected+=(sigaction signal bsd_signal sysv_signal __sysv_signal)

# nm prints "ADDRESS TYPE NAME"; a versioned name would read NAME@VERSION,
# which must not pass for NAME, so the name is compared whole.
actual=$(nm -D --defined-only "$library" | awk 'NF == 3 { print $3 } NF == 2 { print $2 }' | LC_ALL=C sort)
wanted=$(printf '%s\n' "${expected[@]}" | LC_ALL=C sort)

if [[ -z $actual ]]; then
  echo "nm -D --defined-only found no symbols in $library" >&2
  exit 1
fi
if [[ $actual != "$wanted" ]]; then
  echo "exported symbols of $library differ from the expected set (< missing, > unexpected):" >&2
  diff <(echo "$wanted") <(echo "$actual") | grep '^[<>]' >&2 || true
  exit 1
fi

echo "$library exports exactly the 42 allocation functions and the ${#secbits_api[@]} functions of the secbits API"
