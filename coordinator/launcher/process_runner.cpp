#include "coordinator/launcher/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

extern char** environ;

namespace trellis {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::string errno_text(int e) { return std::strerror(e); }

// The caller's environment with `set` applied.
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& set) {
  std::map<std::string, std::string> overrides(set.begin(), set.end());
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos && overrides.count(entry.substr(0, eq))) continue;
    out.push_back(std::move(entry));
  }
  for (const auto& [k, v] : overrides) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

std::string ProcessResult::describe() const {
  if (timed_out) return "timed out";
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit code " + std::to_string(exit_code);
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) throw Error(ErrorCode::invalid, "run_process: no program given");
  Fd out_r, out_w, err_r, err_w;
  {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorCode::unavailable, "pipe: " + errno_text(errno));
    out_r.fd = p[0], out_w.fd = p[1];
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorCode::unavailable, "pipe: " + errno_text(errno));
    err_r.fd = p[0], err_w.fd = p[1];
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no server socket leaks into the child
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group: a timeout kills its children too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env = child_environment(options.env);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(ErrorCode::unavailable, "cannot run " + argv[0] + ": " + errno_text(rc));
  out_w.reset();
  err_w.reset();

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  auto remaining_ms = [&] {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 60'000));
  };
  auto append = [&](std::string& to, const char* data, ssize_t n) {
    const std::size_t room = options.max_output_bytes > to.size() ? options.max_output_bytes - to.size() : 0;
    to.append(data, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
  };
  // Read both streams until they close or the deadline passes.
  while ((out_r.fd >= 0 || err_r.fd >= 0) && !result.timed_out) {
    pollfd fds[2];
    int n = 0;
    if (out_r.fd >= 0) fds[n++] = pollfd{out_r.fd, POLLIN, 0};
    if (err_r.fd >= 0) fds[n++] = pollfd{err_r.fd, POLLIN, 0};
    const int wait = remaining_ms();
    if (wait == 0) {
      result.timed_out = true;
      break;
    }
    const int ready = ::poll(fds, n, wait);
    if (ready < 0) {
      if (errno == EINTR) continue;
      result.timed_out = true;  // cannot wait any more: treat as a timeout (kills it)
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Fd& fd = fds[i].fd == out_r.fd ? out_r : err_r;
      char buf[8192];
      const ssize_t got = ::read(fd.fd, buf, sizeof buf);
      if (got > 0) append(&fd == &out_r ? result.out : result.err, buf, got);
      else if (got == 0 || (errno != EINTR && errno != EAGAIN)) fd.reset();
    }
  }
  // Wait for the exit (it may close its streams and still run).
  int status = 0;
  for (;;) {
    if (!result.timed_out) {
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (w < 0 && errno != EINTR) throw Error(ErrorCode::unavailable, "waitpid: " + errno_text(errno));
      if (remaining_ms() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      result.timed_out = true;
    }
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    break;
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (result.timed_out) result.exit_code = -1;
  return result;
}

}  // namespace trellis
