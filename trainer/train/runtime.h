#pragma once
// Process-level LibTorch set-up and error translation for executables that run the trainer.
#include <c10/util/Exception.h>

#include "common/error.h"

namespace trellis {

// Intra-op threads = `threads` (0: every core of this machine); inter-op threads = 1 (set once
// per process, on the first call). Call before any LibTorch work; not thread-safe.
void set_compute_threads(int threads);

// Runs `f`, turning LibTorch's c10::Error into trellis::Error without the C++ backtrace, so that
// executables report both alike.
template <class F>
auto with_torch_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace());
  }
}

}  // namespace trellis
