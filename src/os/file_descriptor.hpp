// os/file_descriptor: owns one descriptor the operating system handed out (a file opened to check, read
// or create, a socket to systemd, a connection on its way between threads). It is closed exactly once,
// when its owner goes, unless handed on with release(). The one owner type for raw descriptors; the
// rest are held by Asio's sockets.
#pragma once

#include <unistd.h>
#include <utility>

namespace gatehouse::os {

class FileDescriptor {
public:
  explicit FileDescriptor(int fd = -1) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = other.release();
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { close(); }

  int get() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  // Hands the descriptor on: this owner no longer closes it.
  int release() noexcept { return std::exchange(fd_, -1); }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

} // namespace gatehouse::os
