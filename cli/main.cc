// batchexec: run batches of tasks on a batchexec server from the shell.
// Everything but the process wiring is RunCli (cli/cli.h); the wiring is
// stdout as an FdOstream (every write checked), SIGINT and SIGTERM taken
// by a thread of their own, and a watch on stdout's reader.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli.h"
#include "cli/fd_ostream.h"
#include "cli/stop_request.h"
#include "common/malloc_tunables.h"

namespace {

// Blocks SIGINT and SIGTERM in this thread and every thread it starts
// later (gRPC's included), and takes them on a thread of their own: the
// first tells `stop` (the batch is cancelled, the rest printed, the summary
// said), a second exits at once. A signal the parent ignores (a background
// job's SIGINT) stays ignored.
void TakeSignals(batchexec::StopRequest* stop) {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGINT, SIGTERM}) {
    struct sigaction current;
    if (sigaction(signo, nullptr, &current) == 0 &&
        current.sa_handler == SIG_IGN) {
      continue;
    }
    sigaddset(&set, signo);
  }
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  std::thread([set, stop] {
    bool told = false;
    while (true) {
      int signo = 0;
      if (sigwait(&set, &signo) != 0) continue;
      if (told) _exit(batchexec::kExitSignalBase + signo);
      told = true;
      stop->Interrupt(signo);
    }
  }).detach();
}

// When stdout is a pipe or socket, tells `stop` as soon as its reader has
// gone (`| head -1` done), even while no result is due: poll() reports
// POLLERR on a pipe whose read end is closed. Other stdouts (files,
// terminals) find out on their next write.
void WatchStdout(batchexec::StopRequest* stop) {
  struct stat st;
  if (fstat(STDOUT_FILENO, &st) != 0 ||
      !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
    return;
  }
  std::thread([stop] {
    pollfd fd = {STDOUT_FILENO, 0, 0};  // no events: errors and hangups only
    while (true) {
      const int n = poll(&fd, 1, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0 && (fd.revents & (POLLERR | POLLHUP)) != 0) {
        stop->OutputLost(EPIPE);
      }
      return;
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  batchexec::ReexecWithShortRunMalloc(argv);  // common/malloc_tunables.h
  std::ios::sync_with_stdio(false);
  // Outlives main: the detached threads may still tell it during exit.
  auto* stop = new batchexec::StopRequest;
  TakeSignals(stop);
  WatchStdout(stop);
  std::vector<std::string> args(argv + 1, argv + argc);
  batchexec::CliEnvironment env;
  env.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  env.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  env.stop = stop;
  int code;
  {
    batchexec::FdOstream out(STDOUT_FILENO);
    code = batchexec::RunCli(args, std::cin, out, std::cerr, env);
  }
  // The last chance to hear of a lost write (NFS reports some on close).
  if (close(STDOUT_FILENO) != 0 && errno != EBADF && errno != EINTR &&
      code == batchexec::kExitOk) {
    std::cerr << "batchexec: closing stdout: " << std::strerror(errno) << "\n";
    code = batchexec::kExitFailed;
  }
  return code;
}
