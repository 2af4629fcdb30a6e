#include "coordinator/launcher/launcher_thread.h"

namespace trellis {

LauncherThread::LauncherThread(JobStore& store, SlurmCommandOptions slurm_options, const Clock& clock,
                               LauncherOptions options, GroupLauncher::ReleaseFn release,
                               std::chrono::milliseconds poll)
    : slurm_(std::make_unique<SlurmCommandClient>(std::move(slurm_options))),
      launcher_(std::make_unique<GroupLauncher>(store, *slurm_, clock, options, std::move(release))),
      thread_(
          poll, [this] { launcher_->tick(); }, nullptr) {}  // tick() never throws; it logs its errors

}  // namespace trellis
