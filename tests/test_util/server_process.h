// Runs the batchexec_server binary as a child process, for tests of what
// happens to callers when the process dies or is told to stop.
#ifndef BATCHEXEC_TESTS_TEST_UTIL_SERVER_PROCESS_H_
#define BATCHEXEC_TESTS_TEST_UTIL_SERVER_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace batchexec::testing {

class ServerProcess {
 public:
  // Starts `binary` with `args`; port() is 0 if it did not come up.
  ServerProcess(const std::string& binary, std::vector<std::string> args) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    // "batchexec server listening on HOST:PORT"
    FILE* f = fdopen(out[0], "r");
    char line[256];
    if (f != nullptr && fgets(line, sizeof line, f) != nullptr) {
      std::string s(line);
      size_t colon = s.rfind(':');
      if (colon != std::string::npos) {
        (void)absl::SimpleAtoi(
            s.substr(colon + 1, s.find_last_not_of("\n") - colon), &port_);
      }
    }
    stdout_ = f;
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (stdout_ != nullptr) fclose(stdout_);
  }

  int port() const { return port_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  void Signal(int sig) { kill(pid_, sig); }

  // Waits for the process to end; its exit code, or 128+signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  FILE* stdout_ = nullptr;
};

}  // namespace batchexec::testing

#endif  // BATCHEXEC_TESTS_TEST_UTIL_SERVER_PROCESS_H_
