#pragma once
// Human-readable progress lines on stderr for training runs ("step 10/75 epoch 1 loss ..."),
// shared by `trellis train` and `trellis-worker`. `prefix` starts every line (e.g. "[sst2] ").
#include <string>

#include "trainer/train/trainer.h"

namespace trellis {

// Sets on_step and on_eval of `callbacks` to print to stderr.
void log_progress_to_stderr(TrainCallbacks& callbacks, const std::string& prefix = "");

}  // namespace trellis
