#include "trainer/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/error.h"

namespace trellis {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
  int hf_rank;  // position in HF's Rust `Dtype` enum, which orders its buffers (larger first)
};
constexpr DTypeInfo kDTypes[] = {{DType::F64, "F64", 8, 8},   {DType::F32, "F32", 4, 7}, {DType::F16, "F16", 2, 4},
                                 {DType::BF16, "BF16", 2, 5}, {DType::I64, "I64", 8, 9}, {DType::I32, "I32", 4, 6},
                                 {DType::I16, "I16", 2, 3},   {DType::I8, "I8", 1, 2},   {DType::U8, "U8", 1, 1},
                                 {DType::BOOL, "BOOL", 1, 0}};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  throw Error("invalid DType value " + std::to_string(static_cast<int>(d)));
}

// numel * itemsize, or nullopt on overflow / negative dims.
std::optional<uint64_t> byte_size(const std::vector<int64_t>& shape, size_t itemsize) {
  uint64_t n = itemsize;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) { return json(shape).dump(); }

class HeaderParser {
 public:
  HeaderParser(const std::string& origin, uint64_t buffer_size) : origin_(origin), buffer_size_(buffer_size) {}

  [[noreturn]] void fail(const std::string& msg) const { throw Error(origin_ + ": " + msg); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& msg) const {
    fail("tensor '" + tensor + "': " + msg);
  }

  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };

  Entry entry(const std::string& name, const json& j) const {
    if (!j.is_object()) fail(name, "header entry must be an object, not " + std::string(j.type_name()));
    for (const auto& [key, value] : j.items())
      if (key != "dtype" && key != "shape" && key != "data_offsets")
        fail(name, "unknown key '" + key + "' (expected dtype, shape, data_offsets)");
    Entry e{name, DType::F32, {}, 0, 0};

    auto dt = j.find("dtype");
    if (dt == j.end()) fail(name, "missing 'dtype'");
    if (!dt->is_string()) fail(name, "'dtype' must be a string, not " + std::string(dt->type_name()));
    auto parsed = dtype_from_name(dt->get<std::string>());
    if (!parsed) {
      std::string known;
      for (const auto& i : kDTypes) known += (known.empty() ? "" : ", ") + std::string(i.name);
      fail(name, "unsupported dtype '" + dt->get<std::string>() + "' (supported: " + known + ")");
    }
    e.dtype = *parsed;

    auto sh = j.find("shape");
    if (sh == j.end()) fail(name, "missing 'shape'");
    if (!sh->is_array()) fail(name, "'shape' must be an array, not " + std::string(sh->type_name()));
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(name, "'shape' must hold non-negative integers, got " + sh->dump());
      e.shape.push_back(d.get<int64_t>());
    }

    auto off = j.find("data_offsets");
    if (off == j.end()) fail(name, "missing 'data_offsets'");
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      fail(name, "'data_offsets' must be [begin, end] with non-negative integers, got " + off->dump());
    e.begin = (*off)[0].get<uint64_t>();
    e.end = (*off)[1].get<uint64_t>();
    if (e.begin > e.end) fail(name, "data_offsets " + off->dump() + " have begin > end");
    if (e.end > buffer_size_)
      fail(name, "data_offsets " + off->dump() + " run past the end of the data buffer (" +
                     std::to_string(buffer_size_) + " bytes)");

    auto expected = byte_size(e.shape, dtype_size(e.dtype));
    if (!expected) fail(name, "shape " + shape_str(e.shape) + " is too large");
    if (*expected != e.end - e.begin)
      fail(name, "holds " + std::to_string(e.end - e.begin) + " bytes but dtype " + dtype_name(e.dtype) +
                     " and shape " + shape_str(e.shape) + " need " + std::to_string(*expected));
    return e;
  }

  // The tensors must tile [0, buffer_size) exactly.
  void check_tiling(std::vector<const Entry*> entries) const {
    std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
      return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
    });
    uint64_t covered = 0;
    const Entry* prev = nullptr;
    for (const Entry* e : entries) {
      if (e->begin < covered)
        fail(e->name, "data_offsets [" + std::to_string(e->begin) + ", " + std::to_string(e->end) +
                          "] overlap tensor '" + prev->name + "'");
      if (e->begin > covered)
        fail("bytes [" + std::to_string(covered) + ", " + std::to_string(e->begin) +
             ") of the data buffer belong to no tensor (a hole before tensor '" + e->name + "')");
      covered = e->end;
      prev = e;
    }
    if (covered != buffer_size_)
      fail("the data buffer has " + std::to_string(buffer_size_ - covered) +
           " trailing bytes that belong to no tensor (buffer: " + std::to_string(buffer_size_) +
           " bytes, tensors end at " + std::to_string(covered) + ")");
  }

 private:
  const std::string& origin_;
  uint64_t buffer_size_;
};

}  // namespace

size_t dtype_size(DType d) { return info(d).size; }
std::string dtype_name(DType d) { return info(d).name; }
std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kDTypes)
    if (name == i.name) return i.dtype;
  return std::nullopt;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  return parse(read_binary_file(path), path.string());
}

SafetensorsFile SafetensorsFile::parse(std::vector<std::byte> bytes, std::string origin) {
  SafetensorsFile f;
  f.origin_ = std::move(origin);
  f.bytes_ = std::move(bytes);
  const std::string& o = f.origin_;
  const size_t size = f.bytes_.size();
  if (size < 8)
    throw Error(o + ": not a safetensors file: " + std::to_string(size) +
                " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(f.bytes_[i]);
  if (n > kMaxHeaderBytes)
    throw Error(o + ": header length " + std::to_string(n) + " is implausibly large (limit " +
                std::to_string(kMaxHeaderBytes) + " bytes); not a safetensors file?");
  if (n > size - 8)
    throw Error(o + ": header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
                " bytes); truncated?");
  const std::string_view text(reinterpret_cast<const char*>(f.bytes_.data()) + 8, n);
  const json header = parse_json_text(text, o + ": header");
  if (!header.is_object()) throw Error(o + ": header must be a JSON object, not " + std::string(header.type_name()));

  const uint64_t buffer_size = size - 8 - n;
  const std::byte* buffer = f.bytes_.data() + 8 + n;
  HeaderParser hp(o, buffer_size);
  std::vector<HeaderParser::Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) hp.fail("'__metadata__' must be an object, not " + std::string(value.type_name()));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          hp.fail("'__metadata__' value of '" + mk + "' must be a string, not " + std::string(mv.type_name()));
        f.metadata_.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    entries.push_back(hp.entry(key, value));
  }
  std::vector<const HeaderParser::Entry*> ptrs;
  for (const auto& e : entries) ptrs.push_back(&e);
  hp.check_tiling(std::move(ptrs));

  for (auto& e : entries) {
    TensorView v{e.name, e.dtype, std::move(e.shape), buffer + e.begin, static_cast<size_t>(e.end - e.begin)};
    f.tensors_.emplace(e.name, std::move(v));
  }
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
  if (const TensorView* v = find(name)) return *v;
  std::string msg = origin_ + ": no tensor named '" + name + "' (the file has " + std::to_string(tensors_.size()) +
                    " tensor" + (tensors_.size() == 1 ? "" : "s");
  size_t shown = 0;
  for (const auto& [n, _] : tensors_) {
    if (shown == 8) {
      msg += ", ...";
      break;
    }
    msg += (shown++ == 0 ? ": " : ", ") + n;
  }
  throw Error(msg + ")");
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [n, _] : tensors_) out.push_back(n);
  return out;
}

std::vector<std::byte> serialize_safetensors(std::vector<TensorToWrite> tensors,
                                             const std::map<std::string, std::string>& metadata) {
  const std::string who = "serialize_safetensors: ";
  std::sort(tensors.begin(), tensors.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    int ra = info(a.dtype).hf_rank, rb = info(b.dtype).hf_rank;
    return ra != rb ? ra > rb : a.name < b.name;
  });
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty()) throw Error(who + "a tensor has an empty name");
    if (t.name == kMetadataKey) throw Error(who + "'__metadata__' is reserved and cannot name a tensor");
    if (header.contains(t.name)) throw Error(who + "tensor '" + t.name + "' appears more than once");
    auto expected = byte_size(t.shape, dtype_size(t.dtype));
    if (!expected) throw Error(who + "tensor '" + t.name + "' has an invalid shape " + shape_str(t.shape));
    if (*expected != t.nbytes)
      throw Error(who + "tensor '" + t.name + "' has " + std::to_string(t.nbytes) + " bytes but dtype " +
                  dtype_name(t.dtype) + " and shape " + shape_str(t.shape) + " need " + std::to_string(*expected));
    if (t.nbytes > 0 && t.data == nullptr) throw Error(who + "tensor '" + t.name + "' has no data");
    header[t.name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::type_error& e) {
    throw Error(who + "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::byte> out(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* p = out.data() + 8 + text.size();
  for (const auto& t : tensors) {
    if (t.nbytes > 0) std::memcpy(p, t.data, t.nbytes);
    p += t.nbytes;
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::vector<TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_durably(path, serialize_safetensors(std::move(tensors), metadata));
}

}  // namespace trellis
