#pragma once
// Conversions between safetensors views (trainer/io/safetensors.h) and LibTorch tensors.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/io/safetensors.h"

namespace trellis {

// Copies a view into a new contiguous CPU tensor of the same dtype and shape.
at::Tensor to_tensor(const TensorView& view);

// Serialises named tensors (contiguous copies are made where needed) into safetensors bytes;
// deterministic: the same tensors give the same bytes.
std::vector<std::byte> serialize_tensors(const std::map<std::string, at::Tensor>& tensors,
                                         const std::map<std::string, std::string>& metadata = {});

}  // namespace trellis
