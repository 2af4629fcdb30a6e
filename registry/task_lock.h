#pragma once
// An exclusive lock on one task's admin operations (alias changes, deletion), held for the
// lifetime of the object: an open file description lock (fcntl F_OFD_SETLKW) on
// <root>/<task>/.lock. It excludes other threads of this process (each TaskLock opens its own
// description) as well as other processes, and other hosts where the shared filesystem supports
// POSIX locks (NFSv4, or NFSv3 with lockd). The kernel (or the NFS server, when the client's
// lease expires) releases it when the holder dies. Publishing never takes it.
// Blocks until the lock is free. Not copyable or movable.
#include <filesystem>

namespace trellis {

class TaskLock {
 public:
  // Creates the lock file if missing (and the task directory, which must lie under an existing root).
  // Throws Error(io).
  explicit TaskLock(const std::filesystem::path& lock_file);
  ~TaskLock();
  TaskLock(const TaskLock&) = delete;
  TaskLock& operator=(const TaskLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace trellis
