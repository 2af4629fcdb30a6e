// Precompiled header for every LibTorch translation unit (see trainer/CMakeLists.txt).
#pragma once
#include <torch/torch.h>
