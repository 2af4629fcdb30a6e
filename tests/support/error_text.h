#pragma once
// Helpers for tests that assert on trellis::Error messages.
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"

#define EXPECT_HAS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)
#define EXPECT_HAS_NOT(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsNotSubstring, needle, haystack)

namespace trellis::testing {

// The message of the trellis::Error that `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace trellis::testing
