// DataDir: a node's data directory, held exclusively for the life of the
// process. Open() creates it (mode 0700) if missing, takes an advisory lock
// (flock on <dir>/LOCK) and reads or creates <dir>/node_id. A second process
// on the same directory gets kFailedPrecondition with a message naming the
// directory and the pid that holds it. A node_id file that does not parse is
// kDataLoss naming the file; a directory that cannot be created or written
// (permissions, not a directory) is kFailedPrecondition naming the path.
//
// Layout:  <dir>/LOCK  <dir>/node_id  <dir>/db/ (RocksDB)  <dir>/admin.token
// Thread-safety: immutable after Open(). Lifecycle: the lock is released when
// the DataDir is destroyed (or the process dies).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "base/node_id.h"
#include "base/status.h"

namespace meshkv {

class DataDir {
 public:
  static Result<std::unique_ptr<DataDir>> Open(const std::string& path);
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return path_; }
  NodeId node_id() const { return node_id_; }
  std::string db_path() const { return path_ + "/db"; }
  std::string admin_token_path() const { return path_ + "/admin.token"; }

 private:
  DataDir(std::string path, int lock_fd, NodeId id)
      : path_(std::move(path)), lock_fd_(lock_fd), node_id_(id) {}
  std::string path_;
  int lock_fd_;
  NodeId node_id_;
};

}  // namespace meshkv
