#include "daemon/requests/ingest_queue.hpp"

#include "config/spawn_logged.hpp"

#include <boost/asio/as_tuple.hpp>
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

ingest_queue::ingest_queue(asio::any_io_executor executor, commit_fn commit)
    : executor_(executor), commit_(std::move(commit)) {}

asio::awaitable<storage::result<storage::enqueue_result>> ingest_queue::submit(
    storage::ingest_item item) {
    auto w = std::make_shared<waiter>(executor_, std::move(item));
    queued_.push_back(w);
    if (!committing_) {
        committing_ = true;
        spawn_logged(executor_, commit_pending(), "group_commit", [this] { commit_failed(); });
    }
    co_await w->done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return w->outcome;
}

asio::awaitable<void> ingest_queue::commit_pending() {
    while (!queued_.empty()) {
        // Let the requests that are already readable in this turn join the transaction.
        co_await asio::post(executor_, asio::use_awaitable);
        committing_batch_.swap(queued_);
        std::vector<storage::ingest_item> items;
        items.reserve(committing_batch_.size());
        for (auto& w : committing_batch_)
            items.push_back(std::move(w->item));
        auto results = commit_(items);
        for (std::size_t i = 0; i < committing_batch_.size(); ++i) {
            if (results)
                committing_batch_[i]->outcome = (*results)[i];
            else
                committing_batch_[i]->outcome = results.error();
            committing_batch_[i]->done.cancel();
        }
        committing_batch_.clear();
    }
    committing_ = false;
}

void ingest_queue::commit_failed() {
    // Whether the transaction committed is unknown: the client resends with its event_id,
    // which the ledger answers as a duplicate if it did.
    auto failure = make_error_code(boost::system::errc::io_error);
    for (auto* group : {&committing_batch_, &queued_}) {
        for (auto& w : *group) {
            w->outcome = failure;
            w->done.cancel();
        }
        group->clear();
    }
    committing_ = false;
}

}  // namespace booklore::syncd
