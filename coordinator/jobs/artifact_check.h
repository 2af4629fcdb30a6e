#pragma once
// The registry check of a complete: the artifact a worker reports must be a version the job
// itself published. Pure function of the registry's state; thread-safe (ArtifactRegistry is).
#include <string>

#include "coordinator/store/job.h"
#include "registry/artifact_registry.h"

namespace trellis::jobs {

// Throws Error(conflict), naming the artifact and the job, unless `artifact_ref` is "task@N"
// (an explicit version number), the task is the job's spec.task, and version N resolves in the
// registry to an ok version whose manifest's job id is the job's id. Registry failures other
// than a missing or broken version (io, say) propagate as they are.
void check_artifact_of_job(const ArtifactRegistry& registry, const Job& job, const std::string& artifact_ref);

}  // namespace trellis::jobs
