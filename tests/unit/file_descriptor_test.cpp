// os/file_descriptor: a descriptor is closed exactly once, by whoever owns it last.
#include <gtest/gtest.h>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "os/file_descriptor.hpp"

namespace {

using gatehouse::os::FileDescriptor;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

int open_pipe_end(int& other) {
  int ends[2] = {-1, -1};
  EXPECT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  other = ends[1];
  return ends[0];
}

TEST(FileDescriptor, ClosesWhatItOwnsWhenItGoes) {
  int writer = -1;
  const int reader = open_pipe_end(writer);
  {
    FileDescriptor owned(reader);
    EXPECT_TRUE(owned.is_open());
    EXPECT_EQ(owned.get(), reader);
    EXPECT_TRUE(is_open(reader));
  }
  EXPECT_FALSE(is_open(reader));
  ::close(writer);
}

TEST(FileDescriptor, AMoveHandsOwnershipOnAndClosesOnce) {
  int writer = -1;
  const int reader = open_pipe_end(writer);
  FileDescriptor moved_to;
  {
    FileDescriptor first(reader);
    FileDescriptor second(std::move(first));
    EXPECT_FALSE(first.is_open());
    moved_to = std::move(second);
    EXPECT_FALSE(second.is_open());
  }
  EXPECT_TRUE(is_open(reader)); // the moved-from owners closed nothing
  FileDescriptor other_writer(writer);
  other_writer = std::move(moved_to); // assigning over an owner closes what it held
  EXPECT_FALSE(is_open(writer));
  EXPECT_EQ(other_writer.get(), reader);
  other_writer.close();
  EXPECT_FALSE(is_open(reader));
  EXPECT_FALSE(other_writer.is_open());
  // A second close does nothing: the number, given out again meanwhile, stays open for its new owner.
  int next_writer = -1;
  const int reused = open_pipe_end(next_writer);
  ASSERT_EQ(reused, reader);
  other_writer.close();
  EXPECT_TRUE(is_open(reused));
  ::close(reused);
  ::close(next_writer);
}

TEST(FileDescriptor, AssigningAnOwnerToItselfKeepsTheDescriptorOpen) {
  int writer = -1;
  const int reader = open_pipe_end(writer);
  FileDescriptor owned(reader);
  auto& same = owned;
  owned = std::move(same);
  EXPECT_EQ(owned.get(), reader);
  EXPECT_TRUE(is_open(reader));
  ::close(writer);
}

TEST(FileDescriptor, ReleaseHandsTheDescriptorOnUnclosed) {
  int writer = -1;
  const int reader = open_pipe_end(writer);
  int released = -1;
  {
    FileDescriptor owned(reader);
    released = owned.release();
    EXPECT_FALSE(owned.is_open());
  }
  EXPECT_EQ(released, reader);
  EXPECT_TRUE(is_open(reader));
  ::close(reader);
  ::close(writer);
}

} // namespace
