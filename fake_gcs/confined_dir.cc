#include "fake_gcs/confined_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pflab::fake_gcs {
namespace {

// Why a walk stopped at `component`, for a 404's message.
Error WalkError(int dir, const std::string& component, int err) {
  struct stat st;
  if (::fstatat(dir, component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return NotFound("'" + component + "' is a symbolic link, which the fake server does not follow");
  }
  if (err == ENOENT) return NotFound("'" + component + "' does not exist");
  if (err == ENOTDIR) return NotFound("'" + component + "' is not a directory");
  return NotFound("cannot open '" + component + "': " + std::strerror(err));
}

// A directory stream of its own: openat(".") makes a new open file description, so reading it moves
// no other descriptor's position.
DIR* OpenStream(int dir) {
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) ::close(fd);
  return d;
}

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Result<UniqueFd> OpenRootDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument(path + ": " + std::strerror(errno));
  return UniqueFd(fd);
}

std::pair<std::string_view, std::string_view> SplitParent(std::string_view relative) {
  const std::size_t slash = relative.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), relative};
  return {relative.substr(0, slash), relative.substr(slash + 1)};
}

Result<UniqueFd> OpenDirectoryBeneath(int dir, std::string_view relative, bool create) {
  // dup so that the caller always owns what comes back, even for "" (the directory itself).
  UniqueFd current(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  if (!current.valid()) return Internal(std::string("dup: ") + std::strerror(errno));
  std::size_t pos = 0;
  while (pos < relative.size()) {
    std::size_t end = relative.find('/', pos);
    if (end == std::string_view::npos) end = relative.size();
    const std::string component(relative.substr(pos, end - pos));
    pos = end + 1;
    if (component.empty()) continue;
    if (component == "." || component == "..") return InvalidArgument("path component '" + component + "'");
    int fd = ::openat(current.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(current.get(), component.c_str(), 0755) != 0 && errno != EEXIST) {
        return Internal("cannot create folder '" + component + "': " + std::strerror(errno));
      }
      // Opened again, with O_NOFOLLOW: whatever is there now (ours, or a link someone raced in) is
      // checked the same way.
      fd = ::openat(current.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) return WalkError(current.get(), component, errno);
    current = UniqueFd(fd);
  }
  return current;
}

Result<OpenedFile> OpenFileBeneath(int dir, std::string_view relative) {
  const auto [parent, leaf] = SplitParent(relative);
  if (leaf.empty() || leaf == "." || leaf == "..")
    return NotFound("'" + std::string(relative) + "' is not a file name");
  auto folder = OpenDirectoryBeneath(dir, parent, false);
  if (!folder) return folder.error();
  const std::string name(leaf);
  // O_NONBLOCK: opening a FIFO someone left in the root must not hang a server thread.
  const int fd = ::openat(folder->get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return WalkError(folder->get(), name, errno);
  OpenedFile file;
  file.fd = UniqueFd(fd);
  if (::fstat(fd, &file.st) != 0) return Internal("fstat '" + name + "': " + std::strerror(errno));
  if (!S_ISREG(file.st.st_mode)) return NotFound("'" + name + "' is not a regular file");
  return file;
}

std::vector<std::string> EntryNames(int dir) {
  std::vector<std::string> names;
  DIR* d = OpenStream(dir);
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

bool StatEntry(int dir, const std::string& name, struct stat& st) {
  return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

namespace {

void Walk(int dir, const std::string& prefix, const std::function<bool(const std::string&)>& skip,
          const std::function<void(const std::string&, const struct stat&)>& visit) {
  DIR* d = OpenStream(dir);
  if (d == nullptr) return;
  while (const dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string relative = prefix.empty() ? name : prefix + "/" + name;
    if (skip(relative)) continue;
    struct stat st;
    if (!StatEntry(dir, name, st)) continue;  // gone meanwhile
    if (S_ISREG(st.st_mode)) {
      visit(relative, st);
    } else if (S_ISDIR(st.st_mode)) {
      const int sub = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;  // replaced by a link since the lstat, or unreadable
      UniqueFd owned(sub);
      Walk(sub, relative, skip, visit);
    }
    // Links, sockets, FIFOs and devices are not objects.
  }
  ::closedir(d);
}

}  // namespace

void WalkFiles(int dir, const std::function<bool(const std::string&)>& skip,
               const std::function<void(const std::string&, const struct stat&)>& visit) {
  Walk(dir, "", skip, visit);
}

}  // namespace pflab::fake_gcs
