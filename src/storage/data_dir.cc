#include "storage/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

namespace meshkv {
namespace {

constexpr size_t kMaxNodeIdFileBytes = 4096;

std::string ErrnoText(int err) {
  return std::generic_category().message(err);
}

// The one place errno becomes a Status; `action` is what we tried
// ("create", "open", "write", ...) and `path` what we tried it on.
Status ErrnoStatus(std::string_view action, const std::string& path, int err) {
  std::string what = "cannot " + std::string(action) + " " + path + ": " + ErrnoText(err);
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return FailedPrecondition(what +
                                "; make it writable by the user running meshkv, or pass a "
                                "different --data-dir");
    case ENOENT:
    case ENOTDIR:
    case EEXIST:
      return FailedPrecondition(what + "; check the --data-dir path");
    case ENOSPC:
    case EDQUOT:
      return ResourceExhausted(what + "; the disk is full: free space and retry");
    default:
      return Unavailable(what + "; check the disk and retry");
  }
}

// Owns a file descriptor until released.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// mkdir -p: every missing component is created with mode 0700.
Status MakeDirectories(const std::string& path) {
  for (size_t end = 1; end <= path.size(); ++end) {
    if (end != path.size() && path[end] != '/') continue;
    std::string component = path.substr(0, end);
    struct stat st;
    if (::stat(component.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return FailedPrecondition(component +
                                  " exists and is not a directory; pass a "
                                  "different --data-dir");
      }
      continue;
    }
    if (::mkdir(component.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("create directory", component, errno);
    }
  }
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Reads at most `max_bytes` (+1, to detect larger files) from the start of fd.
Result<std::string> ReadUpTo(int fd, size_t max_bytes, const std::string& path) {
  std::string out(max_bytes + 1, '\0');
  size_t filled = 0;
  while (filled < out.size()) {
    ssize_t n = ::pread(fd, out.data() + filled, out.size() - filled, static_cast<off_t>(filled));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  out.resize(filled);
  return out;
}

std::string_view TrimWhitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// Writes `dir`/`name` so that a crash leaves either the old file or the whole
// new one: write a temporary file, fsync it, rename it over, fsync the dir.
Status WriteFileAtomically(const std::string& dir, const std::string& name,
                           std::string_view content) {
  std::string final_path = dir + "/" + name;
  std::string temp_path = final_path + ".tmp";
  {
    UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus("create", temp_path, errno);
    MESHKV_RETURN_IF_ERROR(WriteAll(fd.get(), content, temp_path));
    if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", temp_path, errno);
  }
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus("rename " + temp_path + " to", final_path, errno);
  }
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return ErrnoStatus("open directory", dir, errno);
  if (::fsync(dir_fd.get()) != 0) return ErrnoStatus("fsync directory", dir, errno);
  return Status::Ok();
}

Result<NodeId> ReadOrCreateNodeId(const std::string& dir) {
  std::string path = dir + "/node_id";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno != ENOENT) return ErrnoStatus("open", path, errno);
    NodeId id = NodeId::Generate();
    MESHKV_RETURN_IF_ERROR(WriteFileAtomically(dir, "node_id", id.ToString() + "\n"));
    return id;
  }
  Result<std::string> content = ReadUpTo(fd.get(), kMaxNodeIdFileBytes, path);
  if (!content.ok()) return content.status();
  Result<NodeId> id = content->size() > kMaxNodeIdFileBytes
                          ? Result<NodeId>(InvalidArgument("the file is too large"))
                          : NodeId::Parse(TrimWhitespace(*content));
  if (!id.ok()) {
    return DataLoss("node id file " + path + " is corrupt (" + id.status().message() +
                    "); restore it from a backup, or delete it to give this node a new identity "
                    "(it then joins the cluster as a new node)");
  }
  return id;
}

}  // namespace

Result<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path) {
  if (path.empty()) return InvalidArgument("the data dir path is empty; pass --data-dir");
  MESHKV_RETURN_IF_ERROR(MakeDirectories(path));

  std::string lock_path = path + "/LOCK";
  UniqueFd lock_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock_fd.get() < 0) return ErrnoStatus("open", lock_path, errno);
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return ErrnoStatus("lock", lock_path, err);
    Result<std::string> holder = ReadUpTo(lock_fd.get(), 32, lock_path);
    std::string pid = holder.ok() ? std::string(TrimWhitespace(*holder)) : "";
    return FailedPrecondition("data dir " + path + " is in use by another meshkv process (pid " +
                              (pid.empty() ? std::string("unknown") : pid) +
                              "); stop it or pass a different --data-dir");
  }
  // Record who holds the lock, for the message above. Best effort: the lock,
  // not the pid, is what protects the directory.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd.get(), 0) != 0) return ErrnoStatus("truncate", lock_path, errno);
  ssize_t written = ::pwrite(lock_fd.get(), pid.data(), pid.size(), 0);
  if (written != static_cast<ssize_t>(pid.size())) {
    return ErrnoStatus("write", lock_path, written < 0 ? errno : EIO);
  }

  Result<NodeId> id = ReadOrCreateNodeId(path);
  if (!id.ok()) return id.status();
  return std::unique_ptr<DataDir>(new DataDir(path, lock_fd.release(), *id));
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace meshkv
