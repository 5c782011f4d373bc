#include "storage/group_commit.h"

#include <algorithm>
#include <iterator>
#include <vector>

namespace meshkv {

GroupCommitter::GroupCommitter(Store& store, size_t max_batch_ops)
    : store_(store), max_batch_ops_(std::max<size_t>(1, max_batch_ops)) {}

GroupCommitter::~GroupCommitter() {
  Stop();
}

void GroupCommitter::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void GroupCommitter::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    // Never started: drain on the caller's thread. With stopping_ set, Run()
    // commits what is queued and returns without waiting.
    Run();
  }
}

void GroupCommitter::Submit(WriteBatch batch, Callback done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(batch), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  if (done)
    done(Unavailable("the write was not applied: storage is shutting down; retry on "
                     "another node"),
         batch);
}

uint64_t GroupCommitter::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

void GroupCommitter::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued is done

    // Take queued batches in order up to max_batch_ops_ (always at least one,
    // however large).
    std::vector<Pending> group;
    size_t ops = 0;
    while (!queue_.empty()) {
      size_t size = queue_.front().batch.size();
      if (!group.empty() && ops + size > max_batch_ops_) break;
      ops += size;
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();

    auto apply = [this](const WriteBatch& batch) {
      Status status = store_.Apply(batch, /*sync=*/true);
      std::lock_guard count_lock(mutex_);
      ++commits_;
      return status;
    };
    auto finish = [](Pending& pending, const Status& status) {
      if (pending.done) pending.done(status, pending.batch);
    };
    // Gives each batch its ops back out of `combined` (moves, no copies).
    auto give_back = [&group](WriteBatch& combined, const std::vector<size_t>& sizes) {
      auto next = combined.begin();
      for (size_t i = 0; i < group.size(); ++i) {
        auto end = next + static_cast<std::ptrdiff_t>(sizes[i]);
        group[i].batch.assign(std::make_move_iterator(next), std::make_move_iterator(end));
        next = end;
      }
    };

    if (group.size() == 1) {
      finish(group.front(), apply(group.front().batch));
    } else {
      std::vector<size_t> sizes;
      WriteBatch combined;
      combined.reserve(ops);
      for (Pending& pending : group) {
        sizes.push_back(pending.batch.size());
        std::move(pending.batch.begin(), pending.batch.end(), std::back_inserter(combined));
      }
      Status status = apply(combined);
      give_back(combined, sizes);
      if (status.ok()) {
        for (Pending& pending : group) finish(pending, status);
      } else {
        // One bad batch must not fail the others: each is applied alone.
        for (Pending& pending : group) finish(pending, apply(pending.batch));
      }
    }
    lock.lock();
  }
}

}  // namespace meshkv
