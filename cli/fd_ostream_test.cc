#include "cli/fd_ostream.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

std::string ReadAll(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  return text;
}

TEST(FdOstream, WritesSmallAndLargePiecesInOrder) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string got;
  std::thread reader([&] { got = ReadAll(fds[0]); });
  const std::string big(200000, 'b');  // past the buffer: written through
  {
    FdOstream out(fds[1]);
    out << "a\n" << big << "c\n" << 'd';
    out.flush();
    EXPECT_TRUE(out.good());
    EXPECT_EQ(out.error(), 0);
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);
  EXPECT_EQ(got, "a\n" + big + "c\nd");
}

TEST(FdOstream, AFullDiskIsAnErrorNamedByErrno) {
  const int fd = open("/dev/full", O_WRONLY);
  if (fd < 0) GTEST_SKIP() << "no /dev/full";
  FdOstream out(fd);
  out << "line\n" << std::flush;
  EXPECT_FALSE(out.good());
  EXPECT_EQ(out.error(), ENOSPC);
  EXPECT_EQ(StreamErrorText(out), std::strerror(ENOSPC));
  close(fd);
}

TEST(FdOstream, AReaderGoneIsEpipeWithSigpipeIgnored) {
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  FdOstream out(fds[1]);
  out << "line\n" << std::flush;
  EXPECT_FALSE(out.good());
  EXPECT_EQ(out.error(), EPIPE);
  out << "more\n" << std::flush;  // stays failed, keeps the first error
  EXPECT_EQ(out.error(), EPIPE);
  close(fds[1]);
  sigaction(SIGPIPE, &old, nullptr);
}

}  // namespace
}  // namespace batchexec
