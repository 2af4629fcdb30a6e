#include "common/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(std::string_view("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string_view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string abc = "abc";
  EXPECT_EQ(sha256_hex(std::as_bytes(std::span(abc))), sha256_hex(std::string_view(abc)));
}

TEST(Sha256, FileIsStreamed) {
  fs::path p = fs::temp_directory_path() / ("trellis_sha_" + std::to_string(::getpid()));
  std::string million(1'000'000, 'a');  // NIST vector; crosses the 1 MiB chunk boundary below
  { std::ofstream(p, std::ios::binary) << million << million << million; }
  EXPECT_EQ(sha256_file_hex(p), sha256_hex(std::string_view(million + million + million)));
  { std::ofstream(p, std::ios::binary) << million; }
  EXPECT_EQ(sha256_file_hex(p), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  { std::ofstream(p, std::ios::binary); }
  EXPECT_EQ(sha256_file_hex(p), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  fs::remove(p);
}

TEST(Sha256, FileErrorsNameTheFile) {
  try {
    sha256_file_hex("/nonexistent/trellis.bin");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/trellis.bin"), std::string::npos) << e.what();
  }
  try {
    sha256_file_hex(fs::temp_directory_path());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fs::temp_directory_path().string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trellis
