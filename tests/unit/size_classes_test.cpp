// The size-class table and the size -> class mapping, checked for every size.
#include <gtest/gtest.h>

#include "pool/size_classes.hpp"

namespace {

using secbits::pool::class_of;
using secbits::pool::kClassCount;
using secbits::pool::kClassSizes;
using secbits::pool::kMaxSmallSize;

TEST(SizeClasses, AreIncreasingMultiplesOfSixteenEndingAtTheLargestSmallSize) {
  EXPECT_EQ(kClassSizes.front(), 16u);
  EXPECT_EQ(kClassSizes.back(), kMaxSmallSize);
  for (std::size_t c = 0; c < kClassCount; ++c) {
    EXPECT_EQ(kClassSizes[c] % 16, 0u) << c;
    if (c > 0) {
      EXPECT_GT(kClassSizes[c], kClassSizes[c - 1]) << c;
    }
  }
}

TEST(SizeClasses, EveryPowerOfTwoFromSixteenIsAClass) {
  for (std::size_t size = 16; size <= kMaxSmallSize; size *= 2) EXPECT_EQ(kClassSizes[class_of(size)], size);
}

TEST(SizeClasses, EverySizeMapsToTheSmallestClassThatHoldsIt) {
  for (std::size_t size = 0; size <= kMaxSmallSize; ++size) {
    const std::size_t c = class_of(size);
    ASSERT_LT(c, kClassCount) << size;
    ASSERT_GE(kClassSizes[c], size) << size;
    if (c > 0) {
      ASSERT_LT(kClassSizes[c - 1], size) << size;
    }
  }
}

TEST(SizeClasses, AlignedClassesHoldTheSizeAndDivideByTheAlignment) {
  for (std::size_t alignment = 32; alignment <= 4096; alignment *= 2) {
    for (std::size_t size = 1; size <= kMaxSmallSize; size += 7) {
      const std::size_t c = class_of(size, alignment);
      if (c == kClassCount) continue;
      EXPECT_GE(kClassSizes[c], size);
      EXPECT_EQ(kClassSizes[c] % alignment, 0u);
    }
    // A size up to the largest class always finds one (every power of two is a class).
    EXPECT_LT(class_of(alignment, alignment), kClassCount);
  }
}

}  // namespace
