#include "common/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trellis_files_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Every entry of dir_ (names only), to see that nothing was left behind.
  std::vector<std::string> listing(const fs::path& d) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(d)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(FilesTest, ReadWholeFiles) {
  const std::string text("a\0b\r\nc", 6);
  write_file_durably(dir_ / "t", text);
  EXPECT_EQ(read_text_file(dir_ / "t"), text);
  auto bytes = read_binary_file(dir_ / "t");
  ASSERT_EQ(bytes.size(), 6u);
  EXPECT_EQ(bytes[1], std::byte{0});
  write_file_durably(dir_ / "empty", std::string_view());
  EXPECT_EQ(read_text_file(dir_ / "empty"), "");
  // A file larger than one read chunk.
  std::string big(300'000, 'x');
  big[299'999] = 'y';
  write_file_durably(dir_ / "big", big);
  EXPECT_EQ(read_text_file(dir_ / "big"), big);
}

TEST_F(FilesTest, ReadsFilesWithoutASize) {
  // /proc files report size 0; the reader must not trust stat.
  EXPECT_NE(read_text_file("/proc/self/status").find("Name:"), std::string::npos);
}

TEST_F(FilesTest, ReadErrorsNameTheFile) {
  try {
    read_text_file(dir_ / "missing.txt");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), (dir_ / "missing.txt").string());
    EXPECT_CONTAINS(e.what(), "No such file or directory");
  }
  try {
    read_binary_file(dir_);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "is a directory");
  }
}

TEST_F(FilesTest, WriteFileDurably) {
  write_file_durably(dir_ / "f", std::string_view("long content"));
  const std::vector<std::byte> b = {std::byte{1}, std::byte{2}};
  write_file_durably(dir_ / "f", b);  // truncates
  EXPECT_EQ(read_binary_file(dir_ / "f"), b);
  try {
    write_file_durably(dir_ / "no/such/dir/f", b);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "cannot create");
    EXPECT_CONTAINS(e.what(), (dir_ / "no/such/dir/f").string());
  }
}

TEST_F(FilesTest, FsyncDir) {
  EXPECT_NO_THROW(fsync_dir(dir_));
  EXPECT_THROW(fsync_dir(dir_ / "missing"), Error);
  write_file_durably(dir_ / "f", std::string_view("x"));
  EXPECT_THROW(fsync_dir(dir_ / "f"), Error);  // not a directory
}

TEST(ParseJsonText, ErrorsNameOriginLineAndColumn) {
  EXPECT_EQ(parse_json_text(R"({"a": [1, {"b": 2}]})", "o")["a"][1]["b"], 2);
  try {
    parse_json_text("{\n\"a\": tru}", "cfg.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "cfg.json: invalid JSON: parse error at line 2, column");
  }
  EXPECT_THROW(parse_json_text("{} x", "o"), Error);  // trailing content
  try {
    parse_json_text(std::string_view("{}\0", 3), "o");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "NUL byte at offset 2");
  }
}

TEST(ParseJsonText, RepeatedKeysAreErrors) {
  try {
    parse_json_text(R"({"a": {"x": 1, "y": [{"k": 1, "k": 2}]}})", "o");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "o: key 'a.y[].k' appears more than once");
  }
  try {
    parse_json_text(R"({"a": 1, "b": 2, "a": 3})", "o");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "key 'a' appears more than once");
  }
  // The same key in sibling objects is fine.
  EXPECT_NO_THROW(parse_json_text(R"({"a": {"k": 1}, "b": {"k": 2}, "c": [{"k": 1}, {"k": 2}]})", "o"));
}

TEST_F(FilesTest, StagedDirectoryCommitRenames) {
  const fs::path final_dir = dir_ / "registry/task/1";  // parents are created
  {
    StagedDirectory staged(final_dir);
    const fs::path staging = staged.path();
    EXPECT_EQ(staging.parent_path(), dir_ / "registry/task");
    EXPECT_EQ(staging.filename().string().rfind(".1.tmp-" + std::to_string(::getpid()) + "-", 0), 0u) << staging;
    EXPECT_TRUE(fs::is_directory(staging));
    EXPECT_FALSE(fs::exists(final_dir));
    write_file_durably(staging / "a.txt", std::string_view("hello"));
    fs::create_directories(staging / "sub");
    write_file_durably(staging / "sub/b.txt", std::string_view("world"));
    staged.commit();
    EXPECT_TRUE(staged.committed());
    EXPECT_EQ(staged.path(), final_dir);
    EXPECT_FALSE(fs::exists(staging));
    EXPECT_THROW(staged.commit(), Error);
  }
  EXPECT_EQ(read_text_file(final_dir / "a.txt"), "hello");
  EXPECT_EQ(read_text_file(final_dir / "sub/b.txt"), "world");
  EXPECT_EQ(listing(dir_ / "registry/task"), std::vector<std::string>{"1"});
}

TEST_F(FilesTest, StagedDirectoryWithoutCommitLeavesNothing) {
  {
    StagedDirectory staged(dir_ / "v1");
    write_file_durably(staged.path() / "a.txt", std::string_view("x"));
    fs::create_directories(staged.path() / "deep/er");
  }
  EXPECT_TRUE(listing(dir_).empty());
}

TEST_F(FilesTest, StagedDirectoryNeverOverwrites) {
  fs::create_directories(dir_ / "v1");
  write_file_durably(dir_ / "v1/keep", std::string_view("old"));
  try {
    StagedDirectory staged(dir_ / "v1");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "already exists");
    EXPECT_CONTAINS(e.what(), (dir_ / "v1").string());
  }
  EXPECT_EQ(listing(dir_), std::vector<std::string>{"v1"});

  // The target appears (non-empty, or even empty) while staging: commit refuses and cleans up.
  for (bool empty : {false, true}) {
    StagedDirectory staged(dir_ / "v2");
    write_file_durably(staged.path() / "new", std::string_view("new"));
    fs::create_directories(dir_ / "v2");
    if (!empty) write_file_durably(dir_ / "v2/other", std::string_view("other"));
    try {
      staged.commit();
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_CONTAINS(e.what(), "already exists");
    }
    EXPECT_FALSE(staged.committed());
    EXPECT_EQ(listing(dir_), (std::vector<std::string>{"v1", "v2"}));
    EXPECT_EQ(listing(dir_ / "v2"), empty ? std::vector<std::string>{} : std::vector<std::string>{"other"});
    fs::remove_all(dir_ / "v2");
  }
  EXPECT_EQ(read_text_file(dir_ / "v1/keep"), "old");
  // A file (not a directory) in the way counts too.
  write_file_durably(dir_ / "v3", std::string_view("file"));
  EXPECT_THROW(StagedDirectory(dir_ / "v3"), Error);
}

TEST_F(FilesTest, StagedDirectoryNames) {
  {
    StagedDirectory staged(dir_ / "v1/");  // a trailing slash names the same directory
    staged.commit();
  }
  EXPECT_TRUE(fs::is_directory(dir_ / "v1"));
  EXPECT_THROW(StagedDirectory(dir_ / ".."), Error);
  EXPECT_THROW(StagedDirectory(fs::path("/")), Error);
}

}  // namespace
}  // namespace trellis
