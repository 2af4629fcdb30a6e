#include "trainer/model/tensor_io.h"

#include <cstring>

#include <ATen/ATen.h>

#include "common/error.h"

namespace trellis {
namespace {

at::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  throw Error("unsupported dtype");
}

DType dtype_of(at::ScalarType t, const std::string& name) {
  switch (t) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: throw Error("tensor '" + name + "' has a dtype that safetensors cannot hold");
  }
}

}  // namespace

at::Tensor to_tensor(const TensorView& view) {
  at::Tensor t = at::empty(view.shape, at::TensorOptions().dtype(scalar_type(view.dtype)));
  if (static_cast<size_t>(t.nbytes()) != view.nbytes)
    throw Error("tensor '" + view.name + "': byte size does not match its shape");
  if (view.nbytes) std::memcpy(t.data_ptr(), view.data, view.nbytes);
  return t;
}

std::vector<std::byte> serialize_tensors(const std::map<std::string, at::Tensor>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;  // owns contiguous CPU copies while serialising
  std::vector<TensorToWrite> out;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(at::kCPU).contiguous());
    const at::Tensor& c = keep.back();
    out.push_back(TensorToWrite{name, dtype_of(c.scalar_type(), name),
                                std::vector<int64_t>(c.sizes().begin(), c.sizes().end()), c.data_ptr(),
                                static_cast<size_t>(c.nbytes())});
  }
  return serialize_safetensors(std::move(out), metadata);
}

}  // namespace trellis
