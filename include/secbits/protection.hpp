#pragma once

namespace secbits {

/// Access a program has to a secure region's pages. Regions rest in NoAccess;
/// views open them for reading or writing only as long as they live.
enum class Protection { NoAccess, ReadOnly, ReadWrite };

/// What to do when the kernel refuses to lock pages in RAM (no CAP_IPC_LOCK and
/// RLIMIT_MEMLOCK exhausted).
///  - Strict: fail (throw secbits::Error / return NULL with ENOMEM).
///  - Degrade: serve the memory unlocked; it is still excluded from core dumps,
///    still wiped and still protected. The object reports it (is_locked()) and
///    the process warns once on stderr.
enum class LockPolicy { Strict, Degrade };

/// When the secure pool returns pages that hold no live block to PROT_NONE
/// (SecMem and SecBytes manage their own protection through views):
///  - Cached: once a bounded number of such pages (4 MiB per thread) has
///    gathered, in a batch that closes them down to 2 MiB (whole empty
///    slabs first), or on collect(); most frees make no syscall
///    (the default). The last 8 blocks of up to 1 KiB a thread freed of each
///    size class wait, wiped, for its next allocations: their pages stay
///    open until then, collect() or the thread's exit. A freed large block
///    (above 64 KiB) waits open, wiped, for reuse; past 32 MiB of them in the
///    process the oldest is closed (from hardening level 2, each is closed at
///    once);
///  - Eager: on the free that empties the page (a syscall on that free);
///  - None: not while their slab is in use; freed blocks are still wiped.
/// A block freed by another thread than its owner is wiped at once; its page
/// closes when the owner next collects (see secbits.h).
enum class PageProtection { Cached, Eager, None };

/// Where the secure pool (and, by default, SecMem and SecBytes) takes its pages:
///  - Anonymous: private anonymous memory, mlock'ed and MADV_DONTDUMP (the
///    default). Root, a debugger or /proc/PID/mem can still read it.
///  - Secret: memfd_secret(2) (Linux 5.14+): pages the kernel removes from its
///    own direct map and maps only in this process, so that no other process,
///    root included, can read them; locked by the kernel and never dumped. A
///    forked child gets zero-filled pages in their place (see README).
///  - Auto: Secret where the kernel gives it, else Anonymous, said once on
///    stderr.
enum class PageSource { Anonymous, Secret, Auto };

/// On which signals every live secure block and every SecMem is wiped before
/// the signal's action runs (README, "Purge on death"):
///  - None: none;
///  - Fatal: those whose default action dumps core (SIGABRT, SIGBUS, SIGFPE,
///    SIGILL, SIGQUIT, SIGSEGV, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ; the
///    default);
///  - FatalAndTermination: also SIGTERM, SIGINT and SIGHUP.
/// A handler the program installed for one of them runs first; the purge
/// follows when the signal goes on to kill the process.
enum class PurgeSignals { None, Fatal, FatalAndTermination };

}  // namespace secbits
