#ifndef SECBITS_SECBITS_H
#define SECBITS_SECBITS_H

/* The C API of the secbits secure pool. Every block it returns lives in
 * memory that is locked in RAM (mlock), excluded from core dumps
 * (MADV_DONTDUMP) and wiped when freed; pages that hold no live block are
 * returned to PROT_NONE. Blocks are at least 16-byte aligned and always start
 * zeroed. Failure is NULL with errno set, as for malloc. */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SECBITS_C_API __attribute__((visibility("default")))

/** What the pool holds now; a snapshot. */
struct secbits_stats {
  size_t bytes_in_use;       /* sum of the usable sizes of live blocks */
  size_t peak_bytes_in_use;  /* highest bytes_in_use seen by the pool's slow paths and by stats calls */
  size_t bytes_committed;    /* pages backing slabs and large blocks */
  size_t bytes_locked;       /* of those, locked in RAM */
  size_t bytes_unlocked;     /* of those, served unlocked under SECBITS_LOCK_DEGRADE */
  size_t slabs;              /* slabs committed for small blocks */
  size_t large_blocks;       /* live blocks above the largest size class */
  size_t vmas;               /* kernel mappings inside the pool's reserved range (/proc/self/maps) */
  size_t protection_flips;   /* mprotect calls that opened or closed pages */
  size_t lock_failures;      /* mlock calls the kernel refused */
  size_t flips_skipped;      /* pages left open (zeroed) to keep the VMA count under its budget */
  size_t fallback_bytes_in_use; /* interposer in tagged mode: bytes jemalloc holds for untagged blocks */
};

/** When the kernel refuses to lock more memory (RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK): fail the allocation (NULL, ENOMEM), or serve the memory
 * unlocked, still undumpable and wiped, count it and warn once on stderr. */
enum secbits_lock_policy { SECBITS_LOCK_STRICT = 0, SECBITS_LOCK_DEGRADE = 1 };

/** When pages that hold no live block go back to PROT_NONE:
 *  CACHED: after a bounded number of such pages per thread (4 MiB) have
 *          gathered, in a batch that closes them down to 2 MiB (whole
 *          empty slabs first), or on secbits_collect(); the pages of the
 *          slab a thread allocates from stay open until then, and so do
 *          those of the last 8 blocks of up to 1 KiB a thread freed of each
 *          size class (wiped, kept for its next allocations) until reused,
 *          secbits_collect() or the thread's exit; no syscall on most frees
 *          (the default). A freed large block (above 64 KiB)
 *          waits open, wiped, for reuse; past 32 MiB of them in the
 *          process the oldest is closed (from hardening level 2, each is
 *          closed at once);
 *  EAGER:  on the free that empties the page (a syscall on that free);
 *  NONE:   not while their slab is in use (blocks are still wiped); a slab
 *          given back empty is closed all the same.
 * A free from another thread than the block's owner is wiped at once but
 * never touches the owner's page counts (that is what keeps it lock-free):
 * under every policy its page closes when the owner next collects (its next
 * allocation that runs out of blocks, or secbits_collect()). */
enum secbits_page_protection {
  SECBITS_PROTECT_CACHED = 0,
  SECBITS_PROTECT_EAGER = 1,
  SECBITS_PROTECT_NONE = 2
};

/** Where the pool takes its pages (see secbits::PageSource in
 * <secbits/protection.hpp>): ANONYMOUS (the default), SECRET (memfd_secret:
 * not readable by any other process, root included) or AUTO (SECRET where the
 * kernel gives it, else ANONYMOUS, said once on stderr). */
enum secbits_page_source {
  SECBITS_SOURCE_ANONYMOUS = 0,
  SECBITS_SOURCE_SECRET = 1,
  SECBITS_SOURCE_AUTO = 2
};

/** On which signals every secret is wiped before the signal kills the process
 * (secbits::PurgeSignals): none; those whose default action dumps core (the
 * default); or those and SIGTERM, SIGINT and SIGHUP. */
enum secbits_purge_signals {
  SECBITS_PURGE_NONE = 0,
  SECBITS_PURGE_FATAL = 1,
  SECBITS_PURGE_FATAL_AND_TERMINATION = 2
};

SECBITS_C_API void* secbits_malloc(size_t size);
/** Overflow of count * size: NULL with ENOMEM. */
SECBITS_C_API void* secbits_calloc(size_t count, size_t size);
/** Moves when it must: the old block is wiped and freed. realloc(p, 0) frees
 * p and returns NULL (as glibc). On failure: NULL, ENOMEM, p untouched. */
SECBITS_C_API void* secbits_realloc(void* pointer, size_t size);
/** C17: an alignment that is not a power of two is NULL with EINVAL. */
SECBITS_C_API void* secbits_aligned_alloc(size_t alignment, size_t size);
/** Wipes and frees. NULL is ignored; a pointer secbits does not own, a
 * double free or a pointer into the middle of a block aborts the process
 * with one line on stderr naming the address. errno is preserved. */
SECBITS_C_API void secbits_free(void* pointer);
/** Bytes usable at pointer (at least what was asked); 0 for NULL. A pointer
 * that does not start a live block of the pool aborts, as secbits_free does. */
SECBITS_C_API size_t secbits_usable_size(const void* pointer);
/** 1 if pointer lies in the pool's reserved range, else 0. Touches no memory. */
SECBITS_C_API int secbits_owns(const void* pointer);
/** Reads /proc/self/maps (for `vmas`): meant for monitoring, not hot loops. */
SECBITS_C_API void secbits_stats(struct secbits_stats* out);

SECBITS_C_API void secbits_set_lock_policy(enum secbits_lock_policy policy);
SECBITS_C_API void secbits_set_page_protection(enum secbits_page_protection protection);
/** Before the pool's first allocation. 0, or -1 with errno: EBUSY once the
 * pool exists, EINVAL for an unknown source, and for SECRET the kernel's
 * refusal of memfd_secret (ENOSYS where it lacks it or has it disabled). */
SECBITS_C_API int secbits_set_page_source(enum secbits_page_source source);
/** The source the pool uses; before its first allocation, the one asked for
 * (AUTO is resolved then). */
SECBITS_C_API enum secbits_page_source secbits_get_page_source(void);
/** The hardening level (0 to 3, default 1; see README "Hardening levels"):
 * which of the program's own memory bugs the pool catches. Before the pool's
 * first allocation: its blocks are laid out for one level. 0, or -1 with
 * errno: EINVAL for a level above 3, EBUSY once the pool runs at another. */
SECBITS_C_API int secbits_set_hardening(int level);
SECBITS_C_API int secbits_get_hardening(void);
/** Wipes every live block of the pool and every SecMem now; they stay
 * allocated (see secbits::purge). Async-signal-safe. */
SECBITS_C_API void secbits_purge(void);
/** Which signals wipe every secret before they kill the process (see
 * secbits::PurgeSignals and README "Purge on death"). 0, or -1 with errno
 * EINVAL for an unknown value. */
SECBITS_C_API int secbits_set_purge_signals(enum secbits_purge_signals signals);
SECBITS_C_API enum secbits_purge_signals secbits_get_purge_signals(void);
/** How many of the pool's own mappings are sealed with mseal (nothing in the
 * process can unmap or reprotect them); -1 where the kernel has no mseal
 * (before Linux 6.10). */
SECBITS_C_API long secbits_sealed_mappings(void);
/** Collects the blocks other threads freed into the calling thread's slabs,
 * closes its empty pages and returns its empty slabs; does the same for the
 * heaps of threads that have exited. */
SECBITS_C_API void secbits_collect(void);

/** Enter and leave a secure scope on the calling thread (nestable; see
 * secbits::secure_scope in <secbits/scope.hpp>). Under the interposer in
 * tagged mode, plain malloc/new on this thread come from the pool while the
 * scope is open; elsewhere they do nothing. No syscall, no lock. */
SECBITS_C_API void secbits_scope_enter(void);
SECBITS_C_API void secbits_scope_leave(void);

#ifdef __cplusplus
}
#endif

#endif /* SECBITS_SECBITS_H */
