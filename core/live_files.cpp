#include "core/live_files.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace moat {
namespace {

std::string errno_text() { return std::strerror(errno); }

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_;
};

} // namespace

Result<void> make_directories(const std::string& dir) {
  std::string path;
  std::istringstream parts(dir);
  if (!dir.empty() && dir[0] == '/')
    path = "/";
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty())
      continue;
    path += part;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return fail("cannot create directory " + path + ": " + errno_text());
    path += '/';
  }
  return {};
}

Result<void> write_file_atomically(const std::string& path, std::string_view content,
                                   unsigned mode) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string tmp = path + ".moat-tmp." + std::to_string(::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0)
    return fail("cannot write " + tmp + ": " + errno_text());
  // The umask may have narrowed the mode; a key must not end up wider than asked either.
  if (::fchmod(fd.get(), mode) != 0)
    return fail("cannot set the mode of " + tmp + ": " + errno_text());
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::unlink(tmp.c_str());
      return fail("cannot write " + tmp + ": " + errno_text());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    ::unlink(tmp.c_str());
    return fail("cannot flush " + tmp + ": " + errno_text());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail("cannot rename " + tmp + " to " + path + ": " + errno_text());
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0)
    return fail("cannot flush directory " + dir + ": " + errno_text());
  return {};
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return fail("cannot read " + path + ": " + errno_text());
  if (S_ISDIR(st.st_mode))
    return fail("cannot read " + path + ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail("cannot read " + path + ": " + errno_text());
  // Read in chunks rather than trusting st_size, so that pipes (/dev/stdin) work too.
  std::string content;
  char chunk[64 << 10];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    content.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (content.size() > max_bytes)
      return fail("cannot read " + path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  if (in.bad())
    return fail("cannot read " + path + ": " + errno_text());
  return content;
}

Result<void> run_command(std::string_view command) {
  std::vector<std::string> words;
  std::istringstream in{std::string(command)};
  for (std::string w; in >> w;)
    words.push_back(w);
  if (words.empty())
    return {};
  std::vector<char*> argv;
  for (auto& w : words)
    argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  if (rc != 0)
    return fail("cannot run '" + std::string(command) + "': " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return fail("cannot wait for '" + std::string(command) + "': " + errno_text());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {};
  if (WIFEXITED(status))
    return fail("'" + std::string(command) + "' exited with status " +
                std::to_string(WEXITSTATUS(status)));
  return fail("'" + std::string(command) + "' was killed by signal " +
              std::to_string(WTERMSIG(status)));
}

} // namespace moat
