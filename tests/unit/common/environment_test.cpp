#include "common/environment.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace trellis {
namespace {

TEST(EnvironmentTest, GetAnswersSetVariablesAndTreatsEmptyAsUnset) {
  const Environment env({{"A", "1"}, {"EMPTY", ""}});
  EXPECT_EQ(env.get("A"), "1");
  EXPECT_EQ(env.get("EMPTY"), std::nullopt);
  EXPECT_EQ(env.get("MISSING"), std::nullopt);
}

TEST(EnvironmentTest, OfProcessIsASnapshot) {
  ::setenv("TRELLIS_ENVIRONMENT_TEST", "a=b", 1);  // a value holding '=' stays whole
  const Environment env = Environment::of_process();
  ::unsetenv("TRELLIS_ENVIRONMENT_TEST");
  EXPECT_EQ(env.get("TRELLIS_ENVIRONMENT_TEST"), "a=b");
  EXPECT_EQ(Environment::of_process().get("TRELLIS_ENVIRONMENT_TEST"), std::nullopt);
}

}  // namespace
}  // namespace trellis
