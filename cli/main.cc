// batchexec: run batches of tasks on a batchexec server from the shell.
// Everything but the process wiring is RunCli (cli/cli.h).
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "common/malloc_tunables.h"

int main(int argc, char** argv) {
  batchexec::ReexecWithShortRunMalloc(argv);  // common/malloc_tunables.h
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  batchexec::CliEnvironment env;
  env.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  env.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  return batchexec::RunCli(args, std::cin, std::cout, std::cerr, env);
}
