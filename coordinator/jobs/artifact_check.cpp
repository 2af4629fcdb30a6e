#include "coordinator/jobs/artifact_check.h"

#include "common/error.h"
#include "registry/artifact_ref.h"

namespace trellis::jobs {

namespace {

[[noreturn]] void refuse(const Job& job, const std::string& artifact_ref, const std::string& why) {
  throw Error(ErrorCode::conflict,
              "Artifact '" + artifact_ref.substr(0, 200) + "' is not a version of job '" + job.id + "': " + why);
}

}  // namespace

void check_artifact_of_job(const ArtifactRegistry& registry, const Job& job, const std::string& artifact_ref) {
  ArtifactRef ref;
  try {
    ref = ArtifactRef::parse(artifact_ref);
  } catch (const Error& e) {
    refuse(job, artifact_ref, e.what());
  }
  if (ref.kind != ArtifactRef::Kind::version)
    refuse(job, artifact_ref, "a complete names the version it published (\"task@N\").");
  if (ref.task != job.spec.task)
    refuse(job, artifact_ref, "the job's task is '" + job.spec.task + "', not '" + ref.task + "'.");
  ResolvedVersion version;
  try {
    version = registry.resolve(artifact_ref);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::not_found && e.code() != ErrorCode::broken) throw;
    refuse(job, artifact_ref, e.what());
  }
  if (version.manifest.job_id != job.id)
    refuse(job, artifact_ref,
           "its manifest names " +
               (version.manifest.job_id ? "job '" + *version.manifest.job_id + "'" : std::string("no job")) + ".");
}

}  // namespace trellis::jobs
