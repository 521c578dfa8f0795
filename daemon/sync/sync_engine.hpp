#pragma once

#include "config/settings.hpp"
#include "daemon/sync/server_link.hpp"
#include "daemon/sync/sync_result.hpp"
#include "daemon/sync/upload_plan.hpp"
#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace booklore::syncd {

/// One sync run against BookLore, in the seed's order: resolve unknown book ids (by hash, then
/// by ISBN), upload sessions per book, then report deletions. What to do after each answer is
/// decided by sync::upload_plan; this class only performs its actions (the I/O shell), so
/// rows leave the queue only after the server confirmed them, and rows whose request may
/// have been stored without an answer are checked against the server before they go again.
class sync_engine {
public:
    /// Called after each upload with the sessions uploaded so far and the total.
    using progress_fn = std::function<void(std::int64_t done, std::int64_t total)>;

    /// Throws at start-up for a bad server_url or ca_file.
    sync_engine(boost::asio::any_io_executor executor, const config::settings& settings,
                storage::database& db);

    /// `manual`: asked for by a person (sync_now), so a refused login may be tried again.
    boost::asio::awaitable<sync_result> run(progress_fn progress, bool manual);

    /// Makes a running sync stop after its current request (shutdown).
    void stop() {
        stop_requested_ = true;
        settle_timer_.cancel();
    }

    /// Connections opened so far (benchmarks).
    std::size_t connections_opened() const { return link_.connections_opened(); }

private:
    struct run_state {
        sync_result result;
        progress_fn progress;
        std::int64_t total = 0;
        bool stopped = false;
        sync::server_view view;
        /// Books skipped for this run (a per-book 403 or 404).
        std::set<std::int64_t> skipped;
        bool hash_lookup_usable = true;
        /// ISBN-13 -> book ids, from the server's book list (read once a run, when needed).
        std::optional<std::multimap<std::string, std::int64_t>> isbns;
    };

    boost::asio::awaitable<void> resolve_books(run_state& st);
    boost::asio::awaitable<std::optional<std::int64_t>> lookup_hash(run_state& st,
                                                                    const std::string& hash);
    boost::asio::awaitable<std::optional<std::int64_t>> lookup_isbn(run_state& st,
                                                                    const std::string& isbn);
    boost::asio::awaitable<void> upload_sessions(run_state& st);
    /// Performs one batch's plan; false when this book waits for the next run.
    boost::asio::awaitable<bool> upload_batch(run_state& st, std::int64_t book_id,
                                              std::vector<storage::pending_session>& rows);
    /// Sends what the plan asked for and hands it the answer; empty when storage failed.
    boost::asio::awaitable<std::optional<sync::action>> perform_request(
        run_state& st, sync::upload_plan& plan, const sync::action& a, std::int64_t book_id,
        std::vector<storage::pending_session>& rows);
    boost::asio::awaitable<void> report_deletions(run_state& st);
    /// Waits until the newest request of rows in doubt is request_timeout_seconds old; false
    /// when the daemon stops meanwhile.
    boost::asio::awaitable<bool> let_doubt_settle(
        const std::vector<storage::pending_session>& rows);
    /// Whether the configured URL leads to a web page instead of BookLore's API.
    boost::asio::awaitable<bool> api_missing(run_state& st);

    /// Follows the plan's storage actions; false when storage failed (the run stops).
    bool settle(run_state& st, const sync::action& a, std::int64_t book_id,
                const std::vector<storage::pending_session>& rows);
    /// A storage failure ends the run: nothing more can be recorded safely.
    void storage_failed(run_state& st, const boost::system::error_code& ec);
    void stop_run(run_state& st, std::string error, sync::stop_reason reason);

    const config::settings& settings_;
    storage::database& db_;
    sync::server_link link_;
    /// Wakes a run that waits for rows in doubt to settle (see let_doubt_settle).
    boost::asio::steady_timer settle_timer_;
    bool stop_requested_ = false;
};

}  // namespace booklore::syncd
