#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), without LibTorch:
//   u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the buffer) plus an optional "__metadata__" object of string values.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
size_t dtype_size(DType);                                     // bytes per element
std::string dtype_name(DType);                                // "F32", "BF16", "BOOL", ...
std::optional<DType> dtype_from_name(std::string_view name);  // nullopt for unknown names

// One tensor inside a SafetensorsFile. `data` points into the file's bytes (little-endian,
// row-major); it is aligned to the dtype's size when the writer aligned it (ours and HF's do),
// but a reader of arbitrary files should memcpy rather than cast.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const std::byte* data;
  size_t nbytes;
  int64_t numel() const;  // product of shape (1 for a scalar)
};

// A parsed, fully validated safetensors file. Owns its bytes; views stay valid for its lifetime
// (moving the object keeps them valid). Immutable: const methods are thread-safe.
// Validation (each failure a trellis::Error naming the file, and the tensor where there is one):
// size >= 8; header length <= 100 MB and within the file; header is a JSON object without
// repeated keys; each entry has exactly dtype (known), shape (non-negative integers) and
// data_offsets ([begin, end], begin <= end <= buffer size, end - begin == numel * dtype size);
// the tensors tile the buffer exactly (no overlap, no hole, no trailing bytes);
// "__metadata__" values are strings.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);
  static SafetensorsFile parse(std::vector<std::byte> bytes, std::string origin);

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const TensorView& get(const std::string& name) const;   // Error naming file and tensor if missing
  const TensorView* find(const std::string& name) const;  // nullptr if missing
  std::vector<std::string> names() const;                 // sorted
  size_t size() const { return tensors_.size(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& origin() const { return origin_; }

 private:
  SafetensorsFile() = default;
  std::string origin_;
  std::vector<std::byte> bytes_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to serialize; `data` (nbytes, little-endian, row-major) is borrowed for the call.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// The bytes of a safetensors file. Deterministic: the same tensors and metadata give the same
// bytes. Header: compact JSON, keys sorted, "__metadata__" only when metadata is non-empty,
// padded with spaces to a multiple of 8 bytes (as HF does). Buffer: tensors in HF's order (by
// dtype, larger sizes first: I64 F64 F32 I32 BF16 F16 I16 I8 U8 BOOL; then by name), so each
// tensor is aligned to its dtype size and the buffer equals the one HF writes for the same tensors.
// Errors (trellis::Error): empty, repeated or reserved ("__metadata__") names, negative dims,
// nbytes != numel * dtype size, null data with nbytes > 0, names or metadata not valid UTF-8.
std::vector<std::byte> serialize_safetensors(std::vector<TensorToWrite> tensors,
                                             const std::map<std::string, std::string>& metadata);

// serialize_safetensors + write_file_durably (not atomic by itself).
void write_safetensors(const std::filesystem::path& path, std::vector<TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace trellis
