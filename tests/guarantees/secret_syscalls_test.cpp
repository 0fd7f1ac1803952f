// System calls and libraries given pointers into the pool's secret memory
// (memfd_secret): which work, and which the kernel refuses, as observed and
// asserted here so that the table in the README stays true. The rule behind
// it: the kernel copies to and from secret pages through the calling
// process's own page tables (read, write, getrandom, a private futex), but
// refuses every path that must pin them or reach them from elsewhere
// (get_user_pages: O_DIRECT, vmsplice, a shared futex, mlock's populate
// step, /proc/PID/mem and process_vm_readv/writev, even from the process
// itself). Each test prints one line "[ syscall  ] <call>: <result>".
//
// The whole binary's pool takes the secret source before its first
// allocation (nothing else here allocates from it), so the tests run in the
// test process itself.
#include <secbits/secbits.h>

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <linux/futex.h>
#include <string>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

#include "support/child.hpp"
#include "support/secret_memory.hpp"
#include "support/smaps.hpp"

namespace {

/// The pool of this process takes secret memory, once and before its first
/// allocation: 0, or the errno of the refusal.
int secret_pool_error() {
  static const int error = secbits_set_page_source(SECBITS_SOURCE_SECRET) == 0 ? 0 : errno;
  return error;
}

void record(const std::string& call, const std::string& result) {
  std::cout << "[ syscall  ] " << call << ": " << result << std::endl;
}

std::string outcome(long result, int error) {
  return result < 0 ? std::string("fails, ") + ::strerrorname_np(error) : "works (" + std::to_string(result) + ")";
}

std::vector<unsigned char> random_bytes(std::size_t size) {
  std::vector<unsigned char> bytes(size);
  if (::getrandom(bytes.data(), size, 0) != static_cast<ssize_t>(size)) std::abort();
  return bytes;
}

/// A temporary regular file on a disk file system (O_DIRECT needs one),
/// unlinked at once; `bytes` of it written from ordinary memory.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::size_t bytes) {
    char path[] = "/var/tmp/secbits-secret-syscalls-XXXXXX";
    fd_ = ::mkstemp(path);
    if (fd_ < 0) std::abort();
    ::unlink(path);
    const std::vector<unsigned char> content(bytes, 0x42);
    if (::write(fd_, content.data(), bytes) != static_cast<ssize_t>(bytes) || ::fsync(fd_) != 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~TemporaryFile() { ::close(fd_); }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  int fd() const { return fd_; }
  /// Another open file description of it, with `flags`.
  int reopen(int flags) const { return ::open(path_.c_str(), flags | O_CLOEXEC); }

 private:
  int fd_ = -1;
  std::string path_;
};

class SecretSyscall : public ::testing::Test {
 protected:
  void SetUp() override {
    const int error = secret_pool_error();
    if (error == ENOSYS) GTEST_SKIP() << "this kernel has no secret memory (memfd_secret: ENOSYS)";
    ASSERT_EQ(error, 0) << "secbits_set_page_source(SECRET): " << std::strerror(error);
  }
  void TearDown() override {
    for (void* block : blocks_) secbits_free(block);
  }

  /// A pool block of `size` bytes, checked to lie in a /secretmem mapping;
  /// freed after the test. nullptr (and a failure recorded) otherwise.
  unsigned char* secret(std::size_t size, std::size_t alignment = 16) {
    void* block = secbits_aligned_alloc(alignment, size);
    if (block == nullptr) {
      ADD_FAILURE() << "secbits_aligned_alloc(" << alignment << ", " << size << ") failed";
      return nullptr;
    }
    blocks_.push_back(block);
    std::memset(block, 0, size);  // resident: smaps shows the mapping either way, but not its Rss
    const auto mapping = secbits::test::mapping_containing(block);
    if (!mapping || !mapping->is_secret_memory() || !mapping->has_flag("lo")) {
      ADD_FAILURE() << "the block at " << block << " is not in a locked /secretmem mapping: "
                    << (mapping ? mapping->path : "no mapping");
      return nullptr;
    }
    return static_cast<unsigned char*>(block);
  }

 private:
  std::vector<void*> blocks_;
};

// ---------------------------------------------------------------- what works: copies through this process's page tables

TEST_F(SecretSyscall, ReadAndWriteThroughAPipe) {
  unsigned char* from = secret(4096);
  unsigned char* to = secret(4096);
  ASSERT_TRUE(from && to);
  const auto bytes = random_bytes(4096);
  std::memcpy(from, bytes.data(), bytes.size());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const ssize_t written = ::write(fds[1], from, 4096);
  const int write_error = errno;
  const ssize_t got = ::read(fds[0], to, 4096);
  const int read_error = errno;
  ::close(fds[0]);
  ::close(fds[1]);
  record("write() from a secret block into a pipe", outcome(written, write_error));
  record("read() from a pipe into a secret block", outcome(got, read_error));
  EXPECT_EQ(written, 4096);
  ASSERT_EQ(got, 4096);
  EXPECT_EQ(std::memcmp(to, bytes.data(), 4096), 0);
}

TEST_F(SecretSyscall, ReadWritePreadAndPwriteOfARegularFile) {
  unsigned char* from = secret(5000);
  unsigned char* to = secret(5000);
  unsigned char* positioned = secret(5000);
  ASSERT_TRUE(from && to && positioned);
  const auto bytes = random_bytes(5000);
  std::memcpy(from, bytes.data(), bytes.size());
  TemporaryFile file(0);
  const ssize_t written = ::write(file.fd(), from, 5000);
  const int write_error = errno;
  ASSERT_EQ(::lseek(file.fd(), 0, SEEK_SET), 0);
  const ssize_t got = ::read(file.fd(), to, 5000);
  const int read_error = errno;
  const ssize_t pwritten = ::pwrite(file.fd(), from, 5000, 12288);
  const int pwrite_error = errno;
  const ssize_t pgot = ::pread(file.fd(), positioned, 5000, 12288);
  const int pread_error = errno;
  record("write() from a secret block into a file", outcome(written, write_error));
  record("read() from a file into a secret block", outcome(got, read_error));
  record("pwrite() from a secret block", outcome(pwritten, pwrite_error));
  record("pread() into a secret block", outcome(pgot, pread_error));
  EXPECT_EQ(written, 5000);
  EXPECT_EQ(pwritten, 5000);
  ASSERT_EQ(got, 5000);
  ASSERT_EQ(pgot, 5000);
  EXPECT_EQ(std::memcmp(to, bytes.data(), 5000), 0);
  EXPECT_EQ(std::memcmp(positioned, bytes.data(), 5000), 0);
}

TEST_F(SecretSyscall, SendAndRecvOnAUnixSocket) {
  unsigned char* from = secret(1000);
  unsigned char* to = secret(1000);
  ASSERT_TRUE(from && to);
  const auto bytes = random_bytes(1000);
  std::memcpy(from, bytes.data(), bytes.size());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const ssize_t sent = ::send(fds[0], from, 1000, 0);
  const int send_error = errno;
  const ssize_t got = ::recv(fds[1], to, 1000, MSG_WAITALL);
  const int recv_error = errno;
  ::close(fds[0]);
  ::close(fds[1]);
  record("send()/recv() on a Unix socket", outcome(sent, send_error) + " / " + outcome(got, recv_error));
  EXPECT_EQ(sent, 1000);
  ASSERT_EQ(got, 1000);
  EXPECT_EQ(std::memcmp(to, bytes.data(), 1000), 0);
}

TEST_F(SecretSyscall, GetrandomFillsASecretBlock) {
  unsigned char* key = secret(64);
  ASSERT_TRUE(key);
  const ssize_t got = ::getrandom(key, 64, 0);
  record("getrandom() into a secret block", outcome(got, errno));
  ASSERT_EQ(got, 64);
  // 64 random bytes are all zero with probability 2^-512.
  EXPECT_NE(std::count(key, key + 64, 0), 64);
}

TEST_F(SecretSyscall, MemcpyInAndOut) {
  unsigned char* block = secret(3000);
  ASSERT_TRUE(block);
  const auto bytes = random_bytes(3000);
  std::vector<unsigned char> back(3000);
  std::memcpy(block, bytes.data(), bytes.size());
  std::memcpy(back.data(), block, back.size());
  record("memcpy() into and out of a secret block", "works");
  EXPECT_EQ(back, bytes);
}

// vmsplice from a pipe to memory is a copy, like read(); from memory into a
// pipe it pins the pages (get_user_pages), which secret memory refuses.
TEST_F(SecretSyscall, VmspliceCopiesIntoASecretBlockButCannotTakeItsPages) {
  unsigned char* block = secret(4096, 4096);
  ASSERT_TRUE(block);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "secret", 6), 6);
  iovec into{block, 6};
  const ssize_t copied = ::vmsplice(fds[0], &into, 1, 0);
  const int copy_error = errno;
  iovec out_of{block, 4096};
  const ssize_t spliced = ::vmsplice(fds[1], &out_of, 1, 0);
  const int splice_error = errno;
  ::close(fds[0]);
  ::close(fds[1]);
  record("vmsplice() from a pipe into a secret block", outcome(copied, copy_error));
  record("vmsplice() of a secret block into a pipe", outcome(spliced, splice_error));
  ASSERT_EQ(copied, 6);
  EXPECT_EQ(std::memcmp(block, "secret", 6), 0);
  EXPECT_EQ(spliced, -1);
  EXPECT_EQ(splice_error, EFAULT);
}

// std::mutex, std::atomic::wait and every non-shared pthread object use
// private futexes, keyed by address: they work in secret memory. A shared
// futex (PTHREAD_PROCESS_SHARED objects) must pin the page: EFAULT.
TEST_F(SecretSyscall, PrivateFutexesWorkSharedOnesAreEfault) {
  auto* word = reinterpret_cast<std::uint32_t*>(secret(64));
  ASSERT_TRUE(word);
  *word = 1;
  const timespec no_wait{0, 1000};
  const long private_wait = ::syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, &no_wait, nullptr, 0);
  const int private_wait_error = errno;
  const long private_wake = ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  const long shared_wait = ::syscall(SYS_futex, word, FUTEX_WAIT, 2, &no_wait, nullptr, 0);
  const int shared_wait_error = errno;
  const long shared_wake = ::syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  const int shared_wake_error = errno;
  record("futex(FUTEX_WAIT_PRIVATE) on a secret word (value differs)", outcome(private_wait, private_wait_error));
  record("futex(FUTEX_WAIT) (shared) on a secret word", outcome(shared_wait, shared_wait_error));
  // EAGAIN: the kernel read the word, found 1, not 2, and did not sleep.
  EXPECT_EQ(private_wait, -1);
  EXPECT_EQ(private_wait_error, EAGAIN);
  EXPECT_EQ(private_wake, 0);
  EXPECT_EQ(shared_wait, -1);
  EXPECT_EQ(shared_wait_error, EFAULT);
  EXPECT_EQ(shared_wake, -1);
  EXPECT_EQ(shared_wake_error, EFAULT);
}

// ---------------------------------------------------------------- what fails: paths that pin pages or come from elsewhere

TEST_F(SecretSyscall, ODirectReadAndWriteOfASecretBlockAreEfault) {
  unsigned char* block = secret(4096, 4096);
  ASSERT_TRUE(block);
  TemporaryFile file(8192);
  const int fd = file.reopen(O_RDWR | O_DIRECT);
  ASSERT_GE(fd, 0) << "this file system does not take O_DIRECT: " << std::strerror(errno);
  // The control: the same read into ordinary, equally aligned memory.
  void* ordinary = std::aligned_alloc(4096, 4096);
  ASSERT_NE(ordinary, nullptr);
  const ssize_t control = ::pread(fd, ordinary, 4096, 0);
  const int control_error = errno;
  std::free(ordinary);
  ASSERT_EQ(control, 4096) << "O_DIRECT into ordinary memory: " << std::strerror(control_error);
  const ssize_t got = ::pread(fd, block, 4096, 0);
  const int read_error = errno;
  const ssize_t written = ::pwrite(fd, block, 4096, 4096);
  const int write_error = errno;
  ::close(fd);
  record("O_DIRECT pread() into a secret block", outcome(got, read_error));
  record("O_DIRECT pwrite() from a secret block", outcome(written, write_error));
  EXPECT_EQ(got, -1);
  EXPECT_EQ(read_error, EFAULT);
  EXPECT_EQ(written, -1);
  EXPECT_EQ(write_error, EFAULT);
}

TEST_F(SecretSyscall, AnotherProcessCannotWriteOrReadASecretBlockWithProcessVm) {
  unsigned char* block = secret(64);
  ASSERT_TRUE(block);
  std::memset(block, 0x5A, 64);
  std::array<unsigned char, 64> ordinary{};
  // The child prints two lines: the outcome of the write, then of the read.
  const auto result = secbits::test::run_in_child([block, &ordinary] {
    std::array<unsigned char, 64> mine;
    mine.fill(0x11);
    iovec local{mine.data(), mine.size()};
    // The control: the parent's ordinary memory takes the write.
    iovec control{ordinary.data(), ordinary.size()};
    if (::process_vm_writev(::getppid(), &local, 1, &control, 1, 0) != 64) return 10;
    iovec remote{block, 64};
    const ssize_t written = ::process_vm_writev(::getppid(), &local, 1, &remote, 1, 0);
    std::cout << outcome(written, errno) << std::endl;
    const ssize_t got = ::process_vm_readv(::getppid(), &local, 1, &remote, 1, 0);
    std::cout << outcome(got, errno) << std::endl;
    return 0;
  });
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.output;
  const std::size_t end_of_first = result.output.find('\n');
  ASSERT_NE(end_of_first, std::string::npos) << result.output;
  const std::string written = result.output.substr(0, end_of_first);
  const std::string got = result.output.substr(end_of_first + 1, result.output.find('\n', end_of_first + 1) - end_of_first - 1);
  record("process_vm_writev() into a secret block from another process (root)", written);
  record("process_vm_readv() of a secret block from another process (root)", got);
  EXPECT_EQ(written, "fails, EFAULT");
  EXPECT_EQ(got, "fails, EFAULT");
  EXPECT_EQ(ordinary[0], 0x11) << "the control write into ordinary memory did not land";
  EXPECT_TRUE(std::all_of(block, block + 64, [](unsigned char c) { return c == 0x5A; }));
}

// The process itself cannot read its secret pages through the kernel's
// remote-access paths either: tools that inspect memory that way (and
// read_memory() of tests/support/probe.hpp) see them as unreadable.
TEST_F(SecretSyscall, ProcSelfMemAndProcessVmReadvOfTheProcessItselfFail) {
  unsigned char* block = secret(64);
  ASSERT_TRUE(block);
  std::memset(block, 0x5A, 64);
  std::array<unsigned char, 64> ordinary;
  ordinary.fill(0x33);
  std::array<unsigned char, 64> out{};
  const int mem = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(mem, 0);
  ASSERT_EQ(::pread(mem, out.data(), 64, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(ordinary.data()))), 64);
  const ssize_t through_mem = ::pread(mem, out.data(), 64, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(block)));
  const int mem_error = errno;
  ::close(mem);
  iovec local{out.data(), out.size()};
  iovec remote{block, 64};
  const ssize_t through_vm = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
  const int vm_error = errno;
  record("pread() of /proc/self/mem at a secret block", outcome(through_mem, mem_error));
  record("process_vm_readv() of the process itself", outcome(through_vm, vm_error));
  EXPECT_EQ(through_mem, -1);
  EXPECT_EQ(mem_error, EIO);
  EXPECT_EQ(through_vm, -1);
  EXPECT_EQ(vm_error, EFAULT);
}

// The kernel locks secret pages itself; mlock() then fails in its populate
// step (it cannot pin them) with ENOMEM, and so does sodium_mlock(), which
// calls it, while the pages stay locked. munlock() succeeds and changes
// nothing. The system calls themselves: the sanitizers' runtimes turn the
// libc functions into no-ops that return 0.
TEST_F(SecretSyscall, MlockOfASecretBlockFailsAndMunlockChangesNothing) {
  unsigned char* block = secret(4096, 4096);
  ASSERT_TRUE(block);
  const long locked = ::syscall(SYS_mlock, block, 4096);
  const int lock_error = errno;
  const long unlocked = ::syscall(SYS_munlock, block, 4096);
  const int unlock_error = errno;
  record("mlock() of a secret block", outcome(locked, lock_error));
  record("munlock() of a secret block", outcome(unlocked, unlock_error) + ", still locked");
  EXPECT_EQ(locked, -1);
  EXPECT_EQ(lock_error, ENOMEM);
  EXPECT_EQ(unlocked, 0);
  const auto mapping = secbits::test::mapping_containing(block);
  ASSERT_TRUE(mapping.has_value());
  EXPECT_TRUE(mapping->has_flag("lo"));
  EXPECT_EQ(mapping->locked_kb, mapping->rss_kb);
}

// ---------------------------------------------------------------- libraries: the key only ever in secret memory

/// AES-256-GCM of `plaintext` under `key` and `iv`, into `ciphertext` and
/// `tag`; false if OpenSSL refused.
bool aes_gcm_encrypt(const unsigned char* key, const unsigned char* iv, const unsigned char* plaintext, int size,
                     unsigned char* ciphertext, unsigned char* tag) {
  EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
  int written = 0;
  int final_written = 0;
  const bool ok = context != nullptr && EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nullptr, key, iv) == 1 &&
                  EVP_EncryptUpdate(context, ciphertext, &written, plaintext, size) == 1 &&
                  EVP_EncryptFinal_ex(context, ciphertext + written, &final_written) == 1 &&
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1 && written + final_written == size;
  EVP_CIPHER_CTX_free(context);
  return ok;
}

/// The inverse; false if the tag does not match.
bool aes_gcm_decrypt(const unsigned char* key, const unsigned char* iv, const unsigned char* ciphertext, int size,
                     unsigned char* tag, unsigned char* plaintext) {
  EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
  int written = 0;
  int final_written = 0;
  const bool ok = context != nullptr && EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nullptr, key, iv) == 1 &&
                  EVP_DecryptUpdate(context, plaintext, &written, ciphertext, size) == 1 &&
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
                  EVP_DecryptFinal_ex(context, plaintext + written, &final_written) == 1;
  EVP_CIPHER_CTX_free(context);
  return ok;
}

std::vector<unsigned char> from_hex(const std::string& text) {
  std::vector<unsigned char> bytes;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    bytes.push_back(static_cast<unsigned char>(std::stoul(text.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

TEST_F(SecretSyscall, OpensslAes256GcmWithKeyPlaintextAndCiphertextInSecretMemory) {
  unsigned char* key = secret(32);
  unsigned char* iv = secret(12);
  unsigned char* plaintext = secret(16);
  unsigned char* ciphertext = secret(16);
  unsigned char* tag = secret(16);
  unsigned char* decrypted = secret(16);
  ASSERT_TRUE(key && iv && plaintext && ciphertext && tag && decrypted);
  // GCM specification, test case 14: all-zero key, IV and plaintext.
  ASSERT_TRUE(aes_gcm_encrypt(key, iv, plaintext, 16, ciphertext, tag));
  EXPECT_EQ(std::vector<unsigned char>(ciphertext, ciphertext + 16), from_hex("cea7403d4d606b6e074ec5d3baf39d18"));
  EXPECT_EQ(std::vector<unsigned char>(tag, tag + 16), from_hex("d0d1c8a799996bf0265b98b5d48ab919"));

  // A random key: the same result as with the key in ordinary memory, and back.
  const auto ordinary_key = random_bytes(32);
  const auto ordinary_plaintext = random_bytes(16);
  std::memcpy(key, ordinary_key.data(), 32);
  std::memcpy(plaintext, ordinary_plaintext.data(), 16);
  ASSERT_TRUE(aes_gcm_encrypt(key, iv, plaintext, 16, ciphertext, tag));
  std::vector<unsigned char> expected_ciphertext(16);
  std::vector<unsigned char> expected_tag(16);
  const std::vector<unsigned char> zero_iv(12);
  ASSERT_TRUE(aes_gcm_encrypt(ordinary_key.data(), zero_iv.data(), ordinary_plaintext.data(), 16,
                              expected_ciphertext.data(), expected_tag.data()));
  EXPECT_EQ(std::vector<unsigned char>(ciphertext, ciphertext + 16), expected_ciphertext);
  EXPECT_EQ(std::vector<unsigned char>(tag, tag + 16), expected_tag);
  const bool opened = aes_gcm_decrypt(key, iv, ciphertext, 16, tag, decrypted);
  EXPECT_TRUE(opened);
  EXPECT_EQ(std::memcmp(decrypted, ordinary_plaintext.data(), 16), 0);
  tag[0] ^= 1;
  EXPECT_FALSE(aes_gcm_decrypt(key, iv, ciphertext, 16, tag, decrypted)) << "a forged tag was accepted";
  record("OpenSSL EVP AES-256-GCM encrypt/decrypt (key, data, tag in secret blocks)", opened ? "works" : "fails");
}

TEST_F(SecretSyscall, OpensslHmacSha256WithTheKeyInSecretMemory) {
  unsigned char* key = secret(4);
  unsigned char* mac = secret(32);
  ASSERT_TRUE(key && mac);
  // RFC 4231, test case 2.
  std::memcpy(key, "Jefe", 4);
  const std::string data = "what do ya want for nothing?";
  unsigned int mac_size = 0;
  const unsigned char* result = HMAC(EVP_sha256(), key, 4, reinterpret_cast<const unsigned char*>(data.data()),
                                     data.size(), mac, &mac_size);
  record("OpenSSL HMAC-SHA256 (key and MAC in secret blocks)", result == mac ? "works" : "fails");
  ASSERT_EQ(result, mac);
  ASSERT_EQ(mac_size, 32u);
  EXPECT_EQ(std::vector<unsigned char>(mac, mac + 32),
            from_hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
}

TEST_F(SecretSyscall, SodiumSecretboxWithKeyAndMessageInSecretMemory) {
  ASSERT_GE(sodium_init(), 0);
  constexpr std::size_t kMessage = 100;
  unsigned char* key = secret(crypto_secretbox_KEYBYTES);
  unsigned char* message = secret(kMessage);
  unsigned char* boxed = secret(crypto_secretbox_MACBYTES + kMessage);
  unsigned char* opened = secret(kMessage);
  ASSERT_TRUE(key && message && boxed && opened);
  crypto_secretbox_keygen(key);  // libsodium writes the key straight into secret memory
  randombytes_buf(message, kMessage);
  std::array<unsigned char, crypto_secretbox_NONCEBYTES> nonce;
  randombytes_buf(nonce.data(), nonce.size());
  ASSERT_EQ(crypto_secretbox_easy(boxed, message, kMessage, nonce.data(), key), 0);
  // The same box as with copies in ordinary memory.
  const std::vector<unsigned char> ordinary_key(key, key + crypto_secretbox_KEYBYTES);
  const std::vector<unsigned char> ordinary_message(message, message + kMessage);
  std::vector<unsigned char> expected(crypto_secretbox_MACBYTES + kMessage);
  ASSERT_EQ(crypto_secretbox_easy(expected.data(), ordinary_message.data(), kMessage, nonce.data(), ordinary_key.data()),
            0);
  EXPECT_EQ(std::vector<unsigned char>(boxed, boxed + expected.size()), expected);
  const int result = crypto_secretbox_open_easy(opened, boxed, crypto_secretbox_MACBYTES + kMessage, nonce.data(), key);
  record("libsodium crypto_secretbox_easy/open_easy (key, message, box in secret blocks)",
         result == 0 ? "works" : "fails");
  ASSERT_EQ(result, 0);
  EXPECT_EQ(std::memcmp(opened, message, kMessage), 0);
  boxed[0] ^= 1;
  EXPECT_EQ(crypto_secretbox_open_easy(opened, boxed, crypto_secretbox_MACBYTES + kMessage, nonce.data(), key), -1);
}

TEST_F(SecretSyscall, SodiumGenerichashWithTheKeyInSecretMemory) {
  ASSERT_GE(sodium_init(), 0);
  unsigned char* key = secret(crypto_generichash_KEYBYTES);
  unsigned char* hash = secret(crypto_generichash_BYTES);
  ASSERT_TRUE(key && hash);
  const auto ordinary_key = random_bytes(crypto_generichash_KEYBYTES);
  std::memcpy(key, ordinary_key.data(), ordinary_key.size());
  const std::string data = "the key never leaves secret memory";
  const auto* input = reinterpret_cast<const unsigned char*>(data.data());
  const int result = crypto_generichash(hash, crypto_generichash_BYTES, input, data.size(), key, crypto_generichash_KEYBYTES);
  record("libsodium crypto_generichash (key and hash in secret blocks)", result == 0 ? "works" : "fails");
  ASSERT_EQ(result, 0);
  std::vector<unsigned char> expected(crypto_generichash_BYTES);
  std::vector<unsigned char> unkeyed(crypto_generichash_BYTES);
  ASSERT_EQ(crypto_generichash(expected.data(), expected.size(), input, data.size(), ordinary_key.data(),
                               ordinary_key.size()),
            0);
  ASSERT_EQ(crypto_generichash(unkeyed.data(), unkeyed.size(), input, data.size(), nullptr, 0), 0);
  EXPECT_EQ(std::vector<unsigned char>(hash, hash + crypto_generichash_BYTES), expected);
  EXPECT_NE(expected, unkeyed) << "the key made no difference";
}

}  // namespace
