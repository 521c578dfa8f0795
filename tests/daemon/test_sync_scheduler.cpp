#include "daemon/sync_scheduler.hpp"

#include "tests/storage/helpers.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using namespace booklore;
using namespace booklore::syncd;

TEST_CASE("a sync that throws leaves the daemon able to sync again", "[unit][scheduler]") {
    storage::test::temp_dir dir;
    config::settings s;
    s.database = dir.file("queue.sqlite");
    auto db = storage::database::open(s.database);
    live_settings settings(s, db);
    boost::asio::io_context io;
    int runs = 0;
    std::vector<std::string> events;
    sync_scheduler scheduler(
        io.get_executor(), settings, db,
        [&](sync_scheduler::progress_fn, bool) -> boost::asio::awaitable<sync_result> {
            if (++runs == 1)
                throw std::runtime_error("injected");
            co_return sync_result{};
        },
        [&](const ipc::message& event) {
            events.push_back(event.line());
            return std::size_t{1};
        });

    scheduler.session_queued();
    io.run();
    CHECK(runs == 1);
    CHECK_FALSE(scheduler.sync_running());
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().find("\"sync_finished\"") != std::string::npos);
    CHECK(events.back().find("internal error") != std::string::npos);

    scheduler.session_queued();
    io.restart();
    io.run();
    CHECK(runs == 2);
    CHECK_FALSE(scheduler.sync_running());
}
