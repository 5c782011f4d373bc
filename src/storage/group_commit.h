// GroupCommitter: turns many concurrent durable writes into few fsyncs.
//
// Callers Submit() a batch with a completion callback. One committer thread
// takes what is queued (whole batches, in order, up to max_batch_ops ops; a
// larger batch goes alone), applies it as a single synced Store::Apply, and
// then calls each callback with the shared Status. If that combined Apply
// fails, each batch is retried alone and gets its own Status, so one bad batch
// does not fail the others. Each batch stays atomic; batches combined into one
// Apply also commit together. Latency for one writer is one fsync; throughput
// grows with the number of concurrent writers.
//
// Callbacks run on the committer thread, outside any lock; they must be
// short (post to your own executor). Each gets its batch back as submitted,
// so a caller that needs the ops after the commit need not keep a copy.
// Submit() after Stop() calls back at once, on the caller's thread, with
// kUnavailable.
// Lifecycle: Start() once; batches submitted before Start() wait for it.
// Stop() drains the queue (every callback runs) and joins the thread; if
// Start() was never called, Stop() commits the queue on the caller's thread.
// The destructor calls Stop(). Thread-safety: Submit() and commits() from any
// thread; Start() and Stop() from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "storage/store.h"

namespace meshkv {

class GroupCommitter {
 public:
  using Callback = std::function<void(Status, const WriteBatch& batch)>;

  // `store` must outlive this. max_batch_ops caps one combined batch.
  explicit GroupCommitter(Store& store, size_t max_batch_ops = 4096);
  ~GroupCommitter();

  void Start();
  void Stop();
  void Submit(WriteBatch batch, Callback done);

  uint64_t commits() const;  // synced Apply calls so far, retries included

 private:
  void Run();
  struct Pending {
    WriteBatch batch;
    Callback done;
  };
  Store& store_;
  const size_t max_batch_ops_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  uint64_t commits_ = 0;       // guarded by mutex_
};

}  // namespace meshkv
