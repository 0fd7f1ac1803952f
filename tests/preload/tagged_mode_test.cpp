// Tagged mode (SECBITS_MODE=tagged): a program linked with libsecbits.so, run
// under the interposer. Untagged blocks are jemalloc's; blocks made inside a
// secure_scope or through the secbits API are the pool's, locked and
// undumpable; frees go by ownership, from any thread, inside a scope or not;
// the process has one pool and one set of statistics.
#include <secbits/secbits.hpp>

#include <gtest/gtest.h>
#include <jemalloc/jemalloc.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <barrier>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "preload/preloaded.hpp"

namespace {

using secbits::preload_test::in_secure_memory;

// The program's own malloc/free, not the compiler's idea of them.
void* plain_malloc(std::size_t size) {
  void* (*volatile call)(std::size_t) = std::malloc;
  return call(size);
}
void plain_free(void* block) {
  void (*volatile call)(void*) = std::free;
  call(block);
}

bool jemalloc_knows(const void* block) { return ::sallocx(const_cast<void*>(block), 0) > 0; }

class TaggedMode : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(secbits::preload_test::malloc_is_interposed());
    const char* mode = std::getenv("SECBITS_MODE");
    ASSERT_TRUE(mode != nullptr && std::strcmp(mode, "tagged") == 0) << "run with SECBITS_MODE=tagged";
  }
};

TEST_F(TaggedMode, PlainMallocAndNewAreJemallocsNotThePools) {
  void* block = plain_malloc(100);
  auto* object = new std::string(300, 'x');
  EXPECT_FALSE(secbits_owns(block));
  EXPECT_FALSE(secbits_owns(object->data()));
  EXPECT_TRUE(jemalloc_knows(block));
  EXPECT_GE(::sallocx(block, 0), 100u);
  plain_free(block);
  delete object;
}

// An untagged new is jemalloc's own: the block jemalloc alone would give,
// aligned for any object that fits (as C++ asks, and as compilers assume),
// not padded to 16 bytes for the smallest objects.
TEST_F(TaggedMode, UntaggedNewTakesJemallocsOwnSizeClass) {
  for (std::size_t size = 1; size <= 64; ++size) {
    void* object = ::operator new(size);
    void* array = ::operator new[](size);
    EXPECT_EQ(::sallocx(object, 0), ::nallocx(size, 0)) << "new of " << size << " bytes";
    EXPECT_EQ(::sallocx(array, 0), ::nallocx(size, 0)) << "new[] of " << size << " bytes";
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(object) % std::bit_floor(std::min<std::size_t>(size, 16)), 0u) << size;
    EXPECT_FALSE(secbits_owns(object));
    ::operator delete(object, size);
    ::operator delete[](array);
  }
}

// jemalloc aligns blocks of 8 bytes or less to 8 only: an explicit alignment
// must reach it, or posix_memalign(&p, 16, 8) breaks its promise.
TEST_F(TaggedMode, ExplicitSixteenByteAlignmentHoldsForTinyBlocks) {
  using Aligned = void* (*)(std::size_t, std::size_t);
  Aligned volatile aligned_alloc_call = std::aligned_alloc;
  Aligned volatile memalign_call = ::memalign;
  int (*volatile posix_memalign_call)(void**, std::size_t, std::size_t) = ::posix_memalign;
  for (std::size_t size : {std::size_t{1}, std::size_t{8}}) {
    std::vector<void*> blocks;
    // Many at once: half of jemalloc's 8-byte blocks are 16-aligned by chance.
    for (int i = 0; i < 16; ++i) {
      void* block = nullptr;
      ASSERT_EQ(posix_memalign_call(&block, 16, size), 0);
      blocks.push_back(block);
      blocks.push_back(aligned_alloc_call(16, size));
      blocks.push_back(memalign_call(16, size));
    }
    for (void* block : blocks) {
      ASSERT_NE(block, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 16, 0u) << block << " for " << size << " bytes";
      EXPECT_FALSE(secbits_owns(block));
      plain_free(block);
    }
  }
}

TEST_F(TaggedMode, BlocksMadeInsideAScopeAreThePoolsLockedAndUndumpable) {
  void* block = nullptr;
  std::string* text = nullptr;
  std::vector<int>* numbers = nullptr;
  {
    secbits::secure_scope scope;
    block = plain_malloc(100);
    text = new std::string(500, 's');
    numbers = new std::vector<int>(1000, 7);
  }
  const void* const blocks[] = {block, text, text->data(), numbers, numbers->data()};
  for (const void* pointer : blocks) {
    EXPECT_TRUE(secbits_owns(pointer));
    EXPECT_TRUE(in_secure_memory(pointer));
  }
  // Freed outside the scope: they go back to the pool all the same.
  plain_free(block);
  delete text;
  delete numbers;
}

TEST_F(TaggedMode, AThirdPartyLibrarysKeyLoadedInsideAScopeIsInThePool) {
  // Make a PEM key outside any scope, then load it inside one: OpenSSL's own
  // mallocs for the private key land in the pool.
  EVP_PKEY* generated = EVP_RSA_gen(2048);
  ASSERT_NE(generated, nullptr);
  BIO* pem = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(pem, generated, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EVP_PKEY_free(generated);

  EVP_PKEY* loaded = nullptr;
  {
    secbits::secure_scope scope;
    loaded = PEM_read_bio_PrivateKey(pem, nullptr, nullptr, nullptr);
  }
  ASSERT_NE(loaded, nullptr);
  BIGNUM* d = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(loaded, "d", &d), 1);  // a copy, made outside the scope
  EXPECT_TRUE(secbits_owns(loaded));
  EXPECT_TRUE(in_secure_memory(loaded));
  EXPECT_FALSE(secbits_owns(d));
  BN_clear_free(d);
  EVP_PKEY_free(loaded);
  BIO_free(pem);
}

TEST_F(TaggedMode, ScopesNestAndEndPerThread) {
  void* inner = nullptr;
  void* after_inner = nullptr;
  void* after_outer = nullptr;
  {
    secbits::secure_scope outer;
    {
      secbits::secure_scope nested;
      inner = plain_malloc(64);
    }
    after_inner = plain_malloc(64);  // still inside the outer scope
  }
  after_outer = plain_malloc(64);
  EXPECT_TRUE(secbits_owns(inner));
  EXPECT_TRUE(secbits_owns(after_inner));
  EXPECT_FALSE(secbits_owns(after_outer));
  for (void* block : {inner, after_inner, after_outer}) plain_free(block);
}

TEST_F(TaggedMode, FreesFromAnotherThreadGoToTheRightAllocator) {
  void* secure = nullptr;
  {
    secbits::secure_scope scope;
    secure = plain_malloc(200);
  }
  void* ordinary = plain_malloc(200);
  std::memset(secure, 0xAB, 200);
  std::thread([&] {
    secbits::secure_scope scope;  // the scope does not decide where a free goes
    plain_free(ordinary);
    plain_free(secure);
  }).join();
  // The pool wiped the secure block, and both allocators still work.
  void* again = plain_malloc(200);
  EXPECT_FALSE(secbits_owns(again));
  plain_free(again);
}

TEST_F(TaggedMode, ScopesOnEightThreadsAtOnceTagOnlyTheirOwnAllocations) {
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 2000; ++i) {
        const bool scoped = (i + t) % 2 == 0;
        void* block = nullptr;
        if (scoped) {
          secbits::secure_scope scope;
          block = plain_malloc(static_cast<std::size_t>(16 + (i % 50) * 40));
        } else {
          block = plain_malloc(static_cast<std::size_t>(16 + (i % 50) * 40));
        }
        if ((secbits_owns(block) != 0) != scoped) ++wrong[t];
        plain_free(block);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST_F(TaggedMode, ReallocOfATaggedBlockStaysInThePoolAndOfAnOrdinaryOneInsideAScopeMovesIn) {
  void* tagged = nullptr;
  {
    secbits::secure_scope scope;
    tagged = plain_malloc(32);
  }
  std::memcpy(tagged, "tagged content", 15);
  void* (*volatile grow)(void*, std::size_t) = std::realloc;
  tagged = grow(tagged, 50000);  // outside any scope
  EXPECT_TRUE(secbits_owns(tagged));
  EXPECT_STREQ(static_cast<char*>(tagged), "tagged content");

  void* ordinary = plain_malloc(32);
  std::memcpy(ordinary, "ordinary content", 17);
  {
    secbits::secure_scope scope;
    ordinary = grow(ordinary, 5000);
  }
  EXPECT_TRUE(secbits_owns(ordinary));
  EXPECT_STREQ(static_cast<char*>(ordinary), "ordinary content");
  plain_free(tagged);
  plain_free(ordinary);
}

TEST_F(TaggedMode, OnePoolForTheLibraryAndTheInterposerWithOneSetOfStatistics) {
  struct secbits_stats before {};
  secbits_stats(&before);
  void* from_api = secbits_malloc(1000);
  ASSERT_NE(from_api, nullptr);
  EXPECT_TRUE(in_secure_memory(from_api));
  struct secbits_stats during {};
  secbits_stats(&during);
  EXPECT_GE(during.bytes_in_use, before.bytes_in_use + 1000);
  EXPECT_GT(during.fallback_bytes_in_use, 0u);  // the ordinary side: gtest's own blocks, at least
  plain_free(from_api);  // secbits_malloc, then free

  void* scoped = nullptr;
  {
    secbits::secure_scope scope;
    scoped = plain_malloc(1000);
  }
  secbits_free(scoped);  // scoped malloc, then secbits_free
  auto* object = secbits::secure_new<std::string>(100, 'k');
  EXPECT_TRUE(secbits_owns(object));
  delete object;  // secure_new, then delete
  struct secbits_stats after {};
  secbits_stats(&after);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

}  // namespace
