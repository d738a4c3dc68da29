#include "cli/fd_ostream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace batchexec {

FdStreambuf::FdStreambuf(int fd) : fd_(fd) {
  setp(buffer_, buffer_ + sizeof(buffer_));
}

FdStreambuf::~FdStreambuf() { Drain(); }

bool FdStreambuf::WriteAll(const char* data, size_t size) {
  if (error_ != 0) return false;
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool FdStreambuf::Drain() {
  const size_t size = static_cast<size_t>(pptr() - pbase());
  setp(buffer_, buffer_ + sizeof(buffer_));
  return WriteAll(buffer_, size);
}

FdStreambuf::int_type FdStreambuf::overflow(int_type c) {
  if (!Drain()) return traits_type::eof();
  if (traits_type::eq_int_type(c, traits_type::eof())) {
    return traits_type::not_eof(c);
  }
  *pptr() = traits_type::to_char_type(c);
  pbump(1);
  return c;
}

std::streamsize FdStreambuf::xsputn(const char* s, std::streamsize n) {
  const size_t size = static_cast<size_t>(n);
  if (size <= static_cast<size_t>(epptr() - pptr())) {
    std::memcpy(pptr(), s, size);
    pbump(static_cast<int>(size));
    return n;
  }
  // Too big to buffer: what is buffered, then this, straight out.
  if (!Drain() || !WriteAll(s, size)) return 0;
  return n;
}

int FdStreambuf::sync() { return Drain() ? 0 : -1; }

std::string StreamErrorText(const std::ostream& out) {
  const auto* fd_out = dynamic_cast<const FdOstream*>(&out);
  if (fd_out != nullptr && fd_out->error() != 0) {
    return std::strerror(fd_out->error());
  }
  return "write failed";
}

}  // namespace batchexec
