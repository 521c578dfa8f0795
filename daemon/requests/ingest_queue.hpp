#pragma once

#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace booklore::syncd {

/// Group commit: events that arrive while a commit is running (or in the same turn of the
/// event loop) are committed together in one transaction, so many clients share one fsync.
/// Each caller still gets its answer only after its own event is durable.
class ingest_queue {
public:
    /// Commits a group in one transaction (the database's `enqueue`).
    using commit_fn = std::function<storage::result<std::vector<storage::enqueue_result>>(
        std::span<const storage::ingest_item>)>;

    ingest_queue(boost::asio::any_io_executor executor, commit_fn commit);
    boost::asio::awaitable<storage::result<storage::enqueue_result>> submit(
        storage::ingest_item item);

private:
    struct waiter;
    boost::asio::awaitable<void> commit_pending();
    /// The commit threw: every waiter gets a storage error, and the next event commits again.
    void commit_failed();

    boost::asio::any_io_executor executor_;
    commit_fn commit_;
    std::vector<std::shared_ptr<waiter>> queued_;
    std::vector<std::shared_ptr<waiter>> committing_batch_;
    bool committing_ = false;
};

}  // namespace booklore::syncd
