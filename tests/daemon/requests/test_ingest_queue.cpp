#include "daemon/requests/ingest_queue.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using namespace booklore;
using booklore::syncd::ingest_queue;

namespace {

storage::ingest_item sighting(int n) {
    storage::book_sighting seen;
    seen.file_path = "/books/" + std::to_string(n) + ".epub";
    seen.book_hash = std::string(32, 'a');
    return seen;
}

/// Submits `count` items at once and collects their outcomes.
std::vector<bool> submit_together(boost::asio::io_context& io, ingest_queue& queue, int count) {
    std::vector<bool> ok;
    for (int i = 0; i < count; ++i)
        boost::asio::co_spawn(
            io,
            [&, i]() -> boost::asio::awaitable<void> {
                auto outcome = co_await queue.submit(sighting(i));
                ok.push_back(outcome.has_value());
            },
            boost::asio::detached);
    io.restart();
    io.run();
    return ok;
}

}  // namespace

TEST_CASE("events that arrive together share one commit", "[unit][ingest]") {
    boost::asio::io_context io;
    std::vector<std::size_t> group_sizes;
    ingest_queue queue(io.get_executor(), [&](std::span<const storage::ingest_item> items) {
        group_sizes.push_back(items.size());
        return storage::result<std::vector<storage::enqueue_result>>(
            std::vector<storage::enqueue_result>(items.size()));
    });
    auto ok = submit_together(io, queue, 5);
    CHECK(ok == std::vector<bool>(5, true));
    CHECK(group_sizes == std::vector<std::size_t>{5});
}

TEST_CASE("a commit that throws answers every waiter and the next event commits again",
          "[unit][ingest]") {
    boost::asio::io_context io;
    bool fail = true;
    int commits = 0;
    ingest_queue queue(io.get_executor(), [&](std::span<const storage::ingest_item> items) {
        ++commits;
        if (fail)
            throw std::runtime_error("injected");
        return storage::result<std::vector<storage::enqueue_result>>(
            std::vector<storage::enqueue_result>(items.size()));
    });
    auto failed = submit_together(io, queue, 3);
    CHECK(failed == std::vector<bool>(3, false));
    fail = false;
    auto later = submit_together(io, queue, 2);
    CHECK(later == std::vector<bool>(2, true));
    CHECK(commits == 2);
}
