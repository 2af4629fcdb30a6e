#include "coordinator/api/byte_range.h"

#include <gtest/gtest.h>

namespace trellis::api {
namespace {

TEST(ByteRangeTest, Forms) {
  ByteRange r;
  ASSERT_EQ(parse_byte_range("bytes=0-9", 100, r), RangeResult::ok);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  ASSERT_EQ(parse_byte_range("bytes=90-", 100, r), RangeResult::ok);
  EXPECT_EQ(r.length(), 10u);
  ASSERT_EQ(parse_byte_range("bytes=-200", 100, r), RangeResult::ok);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(parse_byte_range("bytes=5-500", 100, r), RangeResult::ok);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(parse_byte_range("bytes=100-", 100, r), RangeResult::unsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=-0", 100, r), RangeResult::unsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=0-", 0, r), RangeResult::unsatisfiable);
  for (const char* ignored :
       {"", "bytes=", "bytes=a-b", "bytes=9-3", "bytes=0-1,3-4", "lines=0-1", "bytes=-", "bytes=99999999999999999999-"})
    EXPECT_EQ(parse_byte_range(ignored, 100, r), RangeResult::none) << ignored;
}

}  // namespace
}  // namespace trellis::api
