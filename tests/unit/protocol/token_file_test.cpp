// read_token_file: the token without surrounding whitespace; errors name the file, never a token.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "protocol/token_file.h"
#include "common/error.h"

namespace trellis::http {
namespace {

namespace fs = std::filesystem;

TEST(TokenFileTest, TrimsWhitespaceAndNamesTheFileOnErrors) {
  const fs::path dir = fs::temp_directory_path() / ("trellis-token-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "token") << "  user-token-0123456789\r\n\n";
  EXPECT_EQ(read_token_file(dir / "token"), "user-token-0123456789");
  std::ofstream(dir / "blank") << " \n\t\n";
  for (const fs::path& bad : {dir / "blank", dir / "missing"}) {
    try {
      read_token_file(bad);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trellis::http
