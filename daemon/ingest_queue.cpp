#include "daemon/ingest_queue.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace booklore::syncd {
namespace asio = boost::asio;

struct ingest_queue::waiter {
    explicit waiter(asio::any_io_executor ex, storage::ingest_item i)
        : item(std::move(i)), done(ex, asio::steady_timer::time_point::max()) {}
    storage::ingest_item item;
    /// Cancelled when `outcome` is set: a timer used as a one-shot signal.
    asio::steady_timer done;
    storage::result<storage::enqueue_result> outcome = storage::enqueue_result{};
};

ingest_queue::ingest_queue(asio::any_io_executor executor, storage::database& db)
    : executor_(executor), db_(db) {}

asio::awaitable<storage::result<storage::enqueue_result>> ingest_queue::submit(
    storage::ingest_item item) {
    auto w = std::make_shared<waiter>(executor_, std::move(item));
    queued_.push_back(w);
    if (!committing_) {
        committing_ = true;
        asio::co_spawn(executor_, commit_pending(), asio::detached);
    }
    co_await w->done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return w->outcome;
}

asio::awaitable<void> ingest_queue::commit_pending() {
    while (!queued_.empty()) {
        // Let the requests that are already readable in this turn join the transaction.
        co_await asio::post(executor_, asio::use_awaitable);
        std::vector<std::shared_ptr<waiter>> batch;
        batch.swap(queued_);
        std::vector<storage::ingest_item> items;
        items.reserve(batch.size());
        for (auto& w : batch)
            items.push_back(std::move(w->item));
        auto results = db_.enqueue(items);
        ++commits_;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (results)
                batch[i]->outcome = (*results)[i];
            else
                batch[i]->outcome = results.error();
            batch[i]->done.cancel();
        }
    }
    committing_ = false;
}

}  // namespace booklore::syncd
