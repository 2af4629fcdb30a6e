// run_process (no shell, timeout, exit codes, captured output) and SlurmCommandClient against
// stand-in sbatch/squeue/scancel scripts.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <random>

#include "coordinator/launcher/process_runner.h"
#include "coordinator/launcher/slurm_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;

TEST(ProcessRunner, CapturesStdout) {
  const ProcessResult r = run_process({"/bin/echo", "hello", "world"});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello world\n");
  EXPECT_EQ(r.err, "");
}

TEST(ProcessRunner, NoShellInterpretsTheArguments) {
  const ProcessResult r = run_process({"echo", "$HOME;", "`id`", "a b"});  // found in PATH
  EXPECT_EQ(r.out, "$HOME; `id` a b\n");
}

TEST(ProcessRunner, ExitCodeAndStderr) {
  const ProcessResult r = run_process({"/bin/sh", "-c", "echo out; echo oops >&2; exit 3"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(r.describe(), "exit code 3");
}

TEST(ProcessRunner, TimeoutKillsTheProcessAndItsChildren) {
  ProcessOptions o;
  o.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  // The shell's child (sleep) holds stdout open too: the whole group is killed.
  const ProcessResult r = run_process({"/bin/sh", "-c", "echo started; sleep 30; echo never"}, o);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(took, 5s);
}

TEST(ProcessRunner, ClosedStreamsButStillRunningTimesOut) {
  ProcessOptions o;
  o.timeout = 300ms;
  const ProcessResult r = run_process({"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30"}, o);
  EXPECT_TRUE(r.timed_out);
}

TEST(ProcessRunner, EnvironmentIsAddedNotReplaced) {
  ProcessOptions o;
  o.env = {{"TRELLIS_TEST_VALUE", "a,b c"}};
  const ProcessResult r = run_process({"/bin/sh", "-c", "echo \"$TRELLIS_TEST_VALUE\"; test -n \"$PATH\""}, o);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "a,b c\n");
}

TEST(ProcessRunner, OutputIsCapped) {
  ProcessOptions o;
  o.max_output_bytes = 10;
  const ProcessResult r = run_process({"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"}, o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, std::string(10, 'x'));
}

TEST(ProcessRunner, MissingProgramThrows) {
  EXPECT_THROW(run_process({"/nonexistent/trellis-no-such-program"}), Error);
  EXPECT_THROW(run_process({}), Error);
}

TEST(ProcessRunner, KilledBySignal) {
  const ProcessResult r = run_process({"/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.signal, 9);
  EXPECT_FALSE(r.ok());
}

// Stand-in Slurm commands in a temporary folder.
class FakeSlurmCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("trellis-launcher-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    script("sbatch",
           "printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/sbatch.args\"\n"
           "echo \"$TRELLIS_TOKEN_FILE\" > \"$(dirname \"$0\")/sbatch.env\"\n"
           "echo '4242;cluster'\n");
    script("squeue",
           "printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/squeue.args\"\n"
           "echo '4242 RUNNING'; echo '4243 PENDING'; echo '4244 COMPLETING'; echo '9999 RUNNING'\n");
    script("scancel", "echo \"$1\" > \"$(dirname \"$0\")/scancel.args\"\n");
    options_.sbatch_script = dir_ / "worker_group.sbatch";
    options_.sbatch_args = {"--partition=debug", "--nodes=1"};
    options_.env = {{"TRELLIS_TOKEN_FILE", "/shared/worker.token"}};
    options_.coordinator_url = "http://node0:8080";
    options_.sbatch = (dir_ / "sbatch").string();
    options_.squeue = (dir_ / "squeue").string();
    options_.scancel = (dir_ / "scancel").string();
    options_.timeout = 5s;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void script(const std::string& name, const std::string& body) {
    const auto path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0755);
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  SlurmCommandOptions options_;
};

TEST_F(FakeSlurmCommands, SubmitPassesTheBackboneAndReadsTheJobId) {
  SlurmCommandClient client(options_);
  EXPECT_EQ(client.submit({"all-MiniLM-L6-v2", std::string(64, 'a')}), "4242");
  EXPECT_EQ(read("sbatch.args"),
            "--parsable\n--job-name=trellis-all-MiniLM-L6-v2\n"
            "--export=ALL,TRELLIS_BACKBONE=all-MiniLM-L6-v2,TRELLIS_BACKBONE_SHA256=" +
                std::string(64, 'a') +
                ",TRELLIS_COORDINATOR_URL=http://node0:8080\n"
                "--partition=debug\n--nodes=1\n" +
                (dir_ / "worker_group.sbatch").string() + "\n");
  EXPECT_EQ(read("sbatch.env"), "/shared/worker.token\n");  // --launcher-env, via the environment
}

TEST_F(FakeSlurmCommands, UrlFromTheEnvironmentWins) {
  options_.env.emplace_back("TRELLIS_COORDINATOR_URL", "http://elsewhere:1");
  SlurmCommandClient client(options_);
  client.submit({"tiny", ""});
  EXPECT_EQ(read("sbatch.args").find("node0"), std::string::npos);
}

TEST_F(FakeSlurmCommands, SubmitErrorsAreErrors) {
  script("sbatch", "echo 'sbatch: error: invalid partition specified: debug' >&2; exit 1\n");
  SlurmCommandClient client(options_);
  try {
    client.submit({"tiny", ""});
    FAIL() << "expected a Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid partition"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("worker.token"), std::string::npos) << e.what();
  }
  script("sbatch", "echo 'Submitted batch job 12'\n");  // not --parsable output
  EXPECT_THROW(client.submit({"tiny", ""}), Error);
  EXPECT_THROW(client.submit({"a,b", ""}), Error);  // would split --export
}

TEST_F(FakeSlurmCommands, StatesParsesSqueue) {
  SlurmCommandClient client(options_);
  const auto states = client.states({"4242", "4243", "4244", "4245"});
  EXPECT_EQ(read("squeue.args"), "-h\n-j\n4242,4243,4244,4245\n-o\n%i %T\n");
  EXPECT_EQ(states.at("4242"), LaunchState::running);
  EXPECT_EQ(states.at("4243"), LaunchState::pending);
  EXPECT_EQ(states.at("4244"), LaunchState::ended);
  EXPECT_FALSE(states.count("4245"));  // not listed: ended
  EXPECT_FALSE(states.count("9999"));  // not asked
  EXPECT_TRUE(client.states({}).empty());
}

TEST_F(FakeSlurmCommands, SqueueInvalidJobIdMeansAllEnded) {
  script("squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1\n");
  SlurmCommandClient client(options_);
  EXPECT_TRUE(client.states({"4242"}).empty());
  script("squeue", "echo 'slurm_load_jobs error: Unable to contact slurm controller' >&2; exit 1\n");
  EXPECT_THROW(client.states({"4242"}), Error);
}

TEST_F(FakeSlurmCommands, CancelRunsScancel) {
  SlurmCommandClient client(options_);
  client.cancel("4242");
  EXPECT_EQ(read("scancel.args"), "4242\n");
  EXPECT_THROW(client.cancel("42; rm -rf /"), Error);
  script("scancel", "exit 1\n");
  EXPECT_THROW(client.cancel("4242"), Error);
}

TEST_F(FakeSlurmCommands, SqueueTimeoutIsAnError) {
  script("squeue", "sleep 30\n");
  options_.timeout = 200ms;
  SlurmCommandClient client(options_);
  EXPECT_THROW(client.states({"4242"}), Error);
}

TEST(LaunchStateOf, MapsSlurmStates) {
  EXPECT_EQ(launch_state_of("PENDING"), LaunchState::pending);
  EXPECT_EQ(launch_state_of("CONFIGURING"), LaunchState::pending);
  EXPECT_EQ(launch_state_of("RUNNING"), LaunchState::running);
  EXPECT_EQ(launch_state_of("COMPLETING"), LaunchState::ended);
  EXPECT_EQ(launch_state_of("CANCELLED"), LaunchState::ended);
  EXPECT_EQ(launch_state_of("NODE_FAIL"), LaunchState::ended);
  EXPECT_EQ(launch_state_of("SOMETHING_NEW"), LaunchState::running);
}

}  // namespace
}  // namespace trellis
