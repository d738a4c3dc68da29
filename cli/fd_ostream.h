// An std::ostream on a file descriptor that keeps the error of a failed
// write: the CLI's stdout, so that a full disk or a reader gone (EPIPE, with
// SIGPIPE ignored) is reported by name and not lost, as it is on std::cout.
//
// Every write(2) is retried until all bytes are out (a short write or EINTR
// never loses or truncates a line). After the first failure the stream is
// bad and writes nothing more. Not thread-safe, as no std::ostream is.
#ifndef BATCHEXEC_CLI_FD_OSTREAM_H_
#define BATCHEXEC_CLI_FD_OSTREAM_H_

#include <ostream>
#include <streambuf>
#include <string>

namespace batchexec {

class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd);
  ~FdStreambuf() override;

  FdStreambuf(const FdStreambuf&) = delete;
  FdStreambuf& operator=(const FdStreambuf&) = delete;

  // The errno of the first failed write, or 0.
  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  bool Drain();  // writes the buffered bytes
  bool WriteAll(const char* data, size_t size);

  const int fd_;
  int error_ = 0;
  char buffer_[1 << 16];
};

class FdOstream : public std::ostream {
 public:
  // Writes to `fd`, which it does not close.
  explicit FdOstream(int fd) : std::ostream(nullptr), buf_(fd) { rdbuf(&buf_); }

  int error() const { return buf_.error(); }

 private:
  FdStreambuf buf_;
};

// Why writing to `out` failed: strerror of an FdOstream's error, else a
// generic phrase (a stream that keeps no errno).
std::string StreamErrorText(const std::ostream& out);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_FD_OSTREAM_H_
