#pragma once

#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <vector>

namespace booklore::syncd {

/// Group commit: events that arrive while a commit is running (or in the same turn of the
/// event loop) are committed together in one transaction, so many clients share one fsync.
/// Each caller still gets its answer only after its own event is durable.
class ingest_queue {
public:
    ingest_queue(boost::asio::any_io_executor executor, storage::database& db);

    boost::asio::awaitable<storage::result<storage::enqueue_result>> submit(
        storage::ingest_item item);

    /// Transactions committed so far (for status and benchmarks).
    std::uint64_t commits() const { return commits_; }

private:
    struct waiter;
    boost::asio::awaitable<void> commit_pending();

    boost::asio::any_io_executor executor_;
    storage::database& db_;
    std::vector<std::shared_ptr<waiter>> queued_;
    bool committing_ = false;
    std::uint64_t commits_ = 0;
};

}  // namespace booklore::syncd
