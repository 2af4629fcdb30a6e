// The worker's option defaults from its environment: TRELLIS_REGISTRY and TRELLIS_CONFIG_DIR are
// independent of each other (cluster/slurm/worker_group.sbatch sets the first and may leave the
// second unset: a group must then find the default config dir).
#include <gtest/gtest.h>

#include "worker/worker_options.h"

namespace trellis {
namespace {

constexpr const char* kDefault = "/default/configs";

WorkerOptions resolve(std::map<std::string, std::string> vars) {
  WorkerOptions o;
  apply_environment(o, Environment(std::move(vars)), kDefault);
  return o;
}

TEST(WorkerEnvironmentTest, NeitherVariable) {
  const WorkerOptions o = resolve({});
  EXPECT_EQ(o.config_dir, kDefault);
  EXPECT_EQ(o.registry, "");
}

TEST(WorkerEnvironmentTest, OnlyTheRegistryAsTheSbatchScriptDocuments) {
  const WorkerOptions o = resolve({{"TRELLIS_REGISTRY", "/shared/registry"}});
  EXPECT_EQ(o.config_dir, kDefault);
  EXPECT_EQ(o.registry, "/shared/registry");
}

TEST(WorkerEnvironmentTest, OnlyTheConfigDir) {
  const WorkerOptions o = resolve({{"TRELLIS_CONFIG_DIR", "/my/configs"}});
  EXPECT_EQ(o.config_dir, "/my/configs");
  EXPECT_EQ(o.registry, "");
}

TEST(WorkerEnvironmentTest, Both) {
  const WorkerOptions o = resolve({{"TRELLIS_CONFIG_DIR", "/my/configs"}, {"TRELLIS_REGISTRY", "/shared/registry"}});
  EXPECT_EQ(o.config_dir, "/my/configs");
  EXPECT_EQ(o.registry, "/shared/registry");
}

TEST(WorkerEnvironmentTest, SlurmFieldsAndThreads) {
  const WorkerOptions o = resolve({{"SLURM_JOB_ID", "4242"}, {"SLURM_CPUS_PER_TASK", "3"}});
  EXPECT_EQ(o.slurm_job_id, "4242");
  EXPECT_EQ(o.slurm_cpus_per_task, 3);
  EXPECT_EQ(default_threads_per_rank(8, o.slurm_cpus_per_task), 3);
  EXPECT_EQ(resolve({}).slurm_job_id, "");
  EXPECT_GE(default_threads_per_rank(1, 0), 1);
}

}  // namespace
}  // namespace trellis
