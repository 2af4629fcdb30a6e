#include "trainer/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/sha256.h"
#include "common/error.h"

namespace trellis {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(TRELLIS_SOURCE_DIR) / "tests/unit/trainer/io/fixtures";

// A file from a header text and a zero-filled buffer; `length` overrides the header length field.
std::vector<std::byte> make_file(const std::string& header, size_t buffer_size,
                                 std::optional<uint64_t> length = std::nullopt) {
  uint64_t n = length.value_or(header.size());
  std::vector<std::byte> out(8 + header.size() + buffer_size);
  for (int i = 0; i < 8; ++i) out[i] = std::byte((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string parse_error(std::vector<std::byte> bytes) {
  try {
    SafetensorsFile::parse(std::move(bytes), "m.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_PARSE_ERROR(bytes, ...)                                                        \
  do {                                                                                        \
    std::string msg_ = parse_error(bytes);                                                    \
    EXPECT_EQ(msg_.rfind("m.safetensors", 0), 0u) << msg_;                                    \
    for (std::string part_ : {__VA_ARGS__}) {                                                 \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
    }                                                                                         \
  } while (0)

// Sample tensors of every dtype.
struct Sample {
  std::vector<float> w = {0, 0.5f, 1, 1.5f, 2, 2.5f};
  std::vector<double> b = {-1, 0, 1.5};
  std::vector<int64_t> ids = {0, -1, int64_t(1) << 40, 7};
  std::vector<uint16_t> half = {0x0000, 0x3c00, 0x4000, 0x4200};
  std::vector<uint16_t> brain = {0x3f80, 0xc000};
  std::vector<int32_t> i32 = {-5, 5};
  std::vector<int16_t> i16 = {-2};
  std::vector<int8_t> i8 = {-1, 0, 1};
  std::vector<uint8_t> u8 = {0, 255};
  std::vector<uint8_t> mask = {1, 0, 1};
  float scalar = 3.25f;

  std::vector<TensorToWrite> tensors() const {
    return {
        {"weight", DType::F32, {2, 3}, w.data(), w.size() * 4},
        {"bias", DType::F64, {3}, b.data(), b.size() * 8},
        {"ids", DType::I64, {4}, ids.data(), ids.size() * 8},
        {"half", DType::F16, {2, 2}, half.data(), half.size() * 2},
        {"brain", DType::BF16, {2}, brain.data(), brain.size() * 2},
        {"i32", DType::I32, {2}, i32.data(), i32.size() * 4},
        {"i16", DType::I16, {1}, i16.data(), i16.size() * 2},
        {"i8", DType::I8, {3}, i8.data(), i8.size()},
        {"u8", DType::U8, {2}, u8.data(), u8.size()},
        {"mask", DType::BOOL, {3}, mask.data(), mask.size()},
        {"empty", DType::F32, {0, 3}, nullptr, 0},
        {"scalar", DType::F32, {}, &scalar, 4},
    };
  }
  std::map<std::string, std::string> metadata() const { return {{"format", "pt"}, {"note", "trellis fixture"}}; }
};

void expect_matches_sample(const SafetensorsFile& f) {
  Sample s;
  EXPECT_EQ(f.size(), 12u);
  for (const auto& t : s.tensors()) {
    SCOPED_TRACE(t.name);
    const TensorView& v = f.get(t.name);
    EXPECT_EQ(v.name, t.name);
    EXPECT_EQ(v.dtype, t.dtype);
    EXPECT_EQ(v.shape, t.shape);
    ASSERT_EQ(v.nbytes, t.nbytes);
    if (t.nbytes) {
      EXPECT_EQ(std::memcmp(v.data, t.data, t.nbytes), 0);
    }
  }
  EXPECT_EQ(f.metadata(), s.metadata());
}

TEST(SafetensorsDType, NamesAndSizes) {
  const std::vector<std::pair<DType, size_t>> all = {
      {DType::F64, 8}, {DType::F32, 4}, {DType::F16, 2}, {DType::BF16, 2}, {DType::I64, 8},
      {DType::I32, 4}, {DType::I16, 2}, {DType::I8, 1},  {DType::U8, 1},   {DType::BOOL, 1}};
  for (auto [d, size] : all) {
    EXPECT_EQ(dtype_size(d), size);
    EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
  }
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_FALSE(dtype_from_name("f32").has_value());
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
}

TEST(Safetensors, RoundTrip) {
  Sample s;
  auto bytes = serialize_safetensors(s.tensors(), s.metadata());
  SafetensorsFile f = SafetensorsFile::parse(bytes, "rt");
  expect_matches_sample(f);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"bias", "brain", "empty", "half", "i16", "i32", "i8", "ids", "mask",
                                                 "scalar", "u8", "weight"}));
  EXPECT_EQ(f.get("scalar").numel(), 1);
  EXPECT_EQ(f.get("empty").numel(), 0);
  EXPECT_EQ(f.get("weight").numel(), 6);
  // Each tensor is aligned to its dtype size.
  for (const auto& n : f.names()) {
    const TensorView& v = f.get(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype), 0u) << n;
  }
  // The views survive moving the file.
  const std::byte* p = f.get("weight").data;
  SafetensorsFile moved = std::move(f);
  EXPECT_EQ(moved.get("weight").data, p);
  expect_matches_sample(moved);
}

TEST(Safetensors, SerializationIsDeterministicAndPadded) {
  Sample s;
  auto a = serialize_safetensors(s.tensors(), s.metadata());
  auto reversed = s.tensors();
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(serialize_safetensors(reversed, s.metadata()), a);
  uint64_t n = 0;
  std::memcpy(&n, a.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header(reinterpret_cast<const char*>(a.data()) + 8, n);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_first_not_of(' ', header.rfind('}') + 1), std::string::npos);
  // Keys sorted, metadata present.
  json h = json::parse(header);
  EXPECT_EQ(h["__metadata__"]["note"], "trellis fixture");
  EXPECT_LT(header.find("\"bias\""), header.find("\"weight\""));
}

TEST(Safetensors, EmptyFileAndNoMetadata) {
  auto bytes = serialize_safetensors({}, {});
  EXPECT_EQ(bytes.size(), 16u);  // 8 + "{}" padded to 8
  SafetensorsFile f = SafetensorsFile::parse(bytes, "e");
  EXPECT_EQ(f.size(), 0u);
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_TRUE(f.names().empty());
  std::string header(reinterpret_cast<const char*>(bytes.data()) + 8, 8);
  EXPECT_EQ(header, "{}      ");
}

TEST(Safetensors, GetAndFind) {
  Sample s;
  SafetensorsFile f = SafetensorsFile::parse(serialize_safetensors(s.tensors(), {}), "m.safetensors");
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_NE(f.find("bias"), nullptr);
  try {
    f.get("encoder.layer.0.weight");
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("m.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'encoder.layer.0.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("12 tensors"), std::string::npos) << msg;
  }
}

TEST(Safetensors, WriterRejectsBadInput) {
  float x[2] = {1, 2};
  auto err = [&](std::vector<TensorToWrite> t, std::map<std::string, std::string> m = {}) {
    try {
      serialize_safetensors(std::move(t), m);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(err({{"a", DType::F32, {2}, x, 8}, {"a", DType::F32, {2}, x, 8}}).find("'a' appears more than once"),
            std::string::npos);
  EXPECT_NE(err({{"", DType::F32, {2}, x, 8}}).find("empty name"), std::string::npos);
  EXPECT_NE(err({{"__metadata__", DType::F32, {2}, x, 8}}).find("reserved"), std::string::npos);
  EXPECT_NE(err({{"a", DType::F32, {3}, x, 8}}).find("'a' has 8 bytes but dtype F32 and shape [3] need 12"),
            std::string::npos);
  EXPECT_NE(err({{"a", DType::F32, {-2}, x, 8}}).find("invalid shape"), std::string::npos);
  EXPECT_NE(err({{"a", DType::F32, {2}, nullptr, 8}}).find("no data"), std::string::npos);
  EXPECT_NE(err({{"\xff", DType::F32, {2}, x, 8}}).find("UTF-8"), std::string::npos);
  EXPECT_NE(err({}, {{"k", "\xc3"}}).find("UTF-8"), std::string::npos);
}

TEST(SafetensorsReader, ShortFiles) {
  for (size_t n = 0; n < 8; ++n) EXPECT_PARSE_ERROR(std::vector<std::byte>(n), "shorter than the 8-byte header length");
}

TEST(SafetensorsReader, HeaderLength) {
  EXPECT_PARSE_ERROR(make_file("{}", 0, 100'000'001), "header length 100000001", "implausibly large");
  EXPECT_PARSE_ERROR(make_file("{}", 0, ~uint64_t(0)), "implausibly large");
  EXPECT_PARSE_ERROR(make_file("{}", 4, 7), "header length 7 runs past the end of the file (14 bytes)");
  EXPECT_PARSE_ERROR(make_file("{}", 0, 0), "invalid JSON");
}

TEST(SafetensorsReader, HeaderMustBeAJsonObject) {
  EXPECT_PARSE_ERROR(make_file("{\"a\":", 0), "m.safetensors: header: invalid JSON", "line 1");
  EXPECT_PARSE_ERROR(make_file("[]", 0), "header must be a JSON object", "array");
  EXPECT_PARSE_ERROR(make_file("\"x\"", 0), "header must be a JSON object");
  EXPECT_PARSE_ERROR(make_file(std::string("{}\0\0\0\0\0\0", 8), 0), "invalid JSON");
  EXPECT_PARSE_ERROR(make_file("{\"\xff\": 1}", 0), "invalid JSON");
}

TEST(SafetensorsReader, EntryFields) {
  auto one = [](const std::string& entry, size_t buffer = 8) { return make_file("{\"t\":" + entry + "}", buffer); };
  EXPECT_PARSE_ERROR(one("3"), "tensor 't'", "must be an object");
  EXPECT_PARSE_ERROR(one(R"({"shape":[2],"data_offsets":[0,8]})"), "tensor 't'", "missing 'dtype'");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","data_offsets":[0,8]})"), "tensor 't'", "missing 'shape'");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2]})"), "tensor 't'", "missing 'data_offsets'");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1})"), "tensor 't'",
                     "unknown key 'extra'");
  EXPECT_PARSE_ERROR(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), "tensor 't'", "'dtype' must be a string");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})"), "tensor 't'",
                     "unsupported dtype 'F8_E4M3'", "BF16");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), "tensor 't'",
                     "'shape' must be an array");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), "tensor 't'",
                     "non-negative integers");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), "tensor 't'",
                     "non-negative integers");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), "tensor 't'",
                     "non-negative integers");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), "tensor 't'", "[begin, end]");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})"), "tensor 't'", "[begin, end]");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,8]})"), "tensor 't'", "[begin, end]");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8.0]})"), "tensor 't'", "[begin, end]");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":{"a":1}})"), "tensor 't'", "[begin, end]");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), "tensor 't'", "begin > end");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,16]})"), "tensor 't'",
                     "past the end of the data buffer (8 bytes)");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]})"), "tensor 't'",
                     "past the end");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), "tensor 't'",
                     "holds 8 bytes but dtype F32 and shape [3] need 12");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F64","shape":[9223372036854775807, 4],"data_offsets":[0,8]})"), "tensor 't'",
                     "too large");
  EXPECT_PARSE_ERROR(one(R"({"dtype":"F64","shape":[18446744073709551615],"data_offsets":[0,8]})"), "tensor 't'",
                     "non-negative integers");
}

TEST(SafetensorsReader, BufferMustBeTiledExactly) {
  const std::string a = R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]})";
  EXPECT_PARSE_ERROR(make_file("{" + a + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6), "tensor 'b'",
                     "overlap tensor 'a'");
  EXPECT_PARSE_ERROR(make_file("{" + a + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4),
                     "overlap tensor 'a'");
  EXPECT_PARSE_ERROR(make_file("{" + a + R"(,"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})", 8), "bytes [4, 6)",
                     "hole before tensor 'b'");
  EXPECT_PARSE_ERROR(make_file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4), "bytes [0, 2)");
  EXPECT_PARSE_ERROR(make_file("{" + a + "}", 7), "3 trailing bytes");
  EXPECT_PARSE_ERROR(make_file("{}", 1), "1 trailing bytes");
  // Zero-size tensors at a boundary are fine, and so is an exact tiling in any key order.
  EXPECT_NO_THROW(SafetensorsFile::parse(make_file(R"({"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},)"
                                                   R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},)" +
                                                       a + "}",
                                                   8),
                                         "ok"));
}

TEST(SafetensorsReader, DuplicateNames) {
  EXPECT_PARSE_ERROR(make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                               R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                               2),
                     "'a' appears more than once");
}

TEST(SafetensorsReader, Metadata) {
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":{"k":1}})", 0), "'__metadata__' value of 'k' must be a string");
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":{"k":null}})", 0), "'__metadata__' value of 'k'");
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":["k"]})", 0), "'__metadata__' must be an object");
  SafetensorsFile f = SafetensorsFile::parse(make_file(R"({"__metadata__":{"k":"v","a":""}})", 0), "x");
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"a", ""}, {"k", "v"}}));
  EXPECT_EQ(f.size(), 0u);
}

// Every prefix of a valid file is an error (never a crash, never a silent success).
TEST(SafetensorsReader, EveryTruncationIsAnError) {
  Sample s;
  auto bytes = serialize_safetensors(s.tensors(), s.metadata());
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + n);
    EXPECT_THROW(SafetensorsFile::parse(std::move(cut), "cut"), Error) << "prefix " << n;
  }
}

// Flipping bits in the length field or the header gives a clean Error or a file whose views lie
// inside its bytes; never another exception or a crash (run under ASan to see the latter).
TEST(SafetensorsReader, CorruptedHeaderBytes) {
  Sample s;
  const auto bytes = serialize_safetensors(s.tensors(), s.metadata());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  int errors = 0, accepted = 0;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (uint8_t mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}) {
      auto bad = bytes;
      bad[i] ^= std::byte(mask);
      try {
        SafetensorsFile f = SafetensorsFile::parse(std::move(bad), "flip");
        ++accepted;
        for (const auto& name : f.names()) {
          const TensorView& v = f.get(name);
          ASSERT_EQ(v.nbytes, static_cast<size_t>(v.numel()) * dtype_size(v.dtype));
        }
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(accepted, 0);  // e.g. flips inside metadata strings or padding stay valid
}

TEST(SafetensorsReader, OffsetsMovedOutOfRange) {
  Sample s;
  auto bytes = serialize_safetensors(s.tensors(), {});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  json header = json::parse(std::string(reinterpret_cast<const char*>(bytes.data()) + 8, n));
  const size_t buffer = bytes.size() - 8 - n;
  for (const auto& [name, entry] : header.items()) {
    for (int which : {0, 1}) {
      for (uint64_t delta : {uint64_t(1), uint64_t(buffer), uint64_t(1) << 62}) {
        json h = header;
        h[name]["data_offsets"][which] = entry["data_offsets"][which].get<uint64_t>() + delta;
        std::vector<std::byte> file = make_file(h.dump(), buffer);
        std::memcpy(file.data() + 8 + h.dump().size(), bytes.data() + 8 + n, buffer);
        std::string msg = parse_error(file);
        EXPECT_NE(msg, "(no error)") << name << " " << which << " " << delta;
      }
    }
  }
}

TEST(Safetensors, OpenAndWriteFiles) {
  fs::path dir = fs::temp_directory_path() / ("trellis_st_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Sample s;
  write_safetensors(dir / "a.safetensors", s.tensors(), s.metadata());
  SafetensorsFile f = SafetensorsFile::open(dir / "a.safetensors");
  EXPECT_EQ(f.origin(), (dir / "a.safetensors").string());
  expect_matches_sample(f);

  try {
    SafetensorsFile::open(dir / "missing.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
  write_file_durably(dir / "short.safetensors", std::string_view("abc"));
  try {
    SafetensorsFile::open(dir / "short.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind((dir / "short.safetensors").string() + ": not a safetensors file", 0), 0u)
        << e.what();
  }
  fs::remove_all(dir);
}

// A file written by the Python `safetensors` library (fixtures/make_safetensors_fixture.py).
TEST(Safetensors, ReadsPythonWrittenFixture) {
  SafetensorsFile f = SafetensorsFile::open(kFixtures / "python_written.safetensors");
  expect_matches_sample(f);
  // Our writer lays out the buffer exactly as HF does (only the header text differs).
  Sample s;
  auto ours = serialize_safetensors(s.tensors(), s.metadata());
  auto theirs = read_binary_file(kFixtures / "python_written.safetensors");
  uint64_t n_ours = 0, n_theirs = 0;
  std::memcpy(&n_ours, ours.data(), 8);
  std::memcpy(&n_theirs, theirs.data(), 8);
  EXPECT_TRUE(std::equal(ours.begin() + 8 + n_ours, ours.end(), theirs.begin() + 8 + n_theirs, theirs.end()));
}

// The Python library reads what we write, tensor for tensor. Needs the project's venv.
TEST(Safetensors, PythonReadsOurFile) {
  const fs::path python = fs::path(TRELLIS_SOURCE_DIR) / ".venv/bin/python";
  if (!fs::exists(python) ||
      std::system(("'" + python.string() + "' -c 'import safetensors' >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "needs " << python << " with the safetensors package (the project venv); not available";
  fs::path dir = fs::temp_directory_path() / ("trellis_st_py_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Sample s;
  write_safetensors(dir / "ours.safetensors", s.tensors(), s.metadata());
  std::string cmd = "'" + python.string() + "' '" + (kFixtures / "read_safetensors.py").string() + "' '" +
                    (dir / "ours.safetensors").string() + "' > '" + (dir / "summary.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  json summary = json::parse(read_text_file(dir / "summary.json"));
  EXPECT_EQ(summary["metadata"], json(s.metadata()));
  ASSERT_EQ(summary["tensors"].size(), 12u);
  for (const auto& t : s.tensors()) {
    SCOPED_TRACE(t.name);
    const json& e = summary["tensors"][t.name];
    EXPECT_EQ(e["dtype"], dtype_name(t.dtype));
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t.shape);
    EXPECT_EQ(e["sha256"], sha256_hex(std::span(static_cast<const std::byte*>(t.data), t.nbytes)));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trellis
