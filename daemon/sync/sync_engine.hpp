#pragma once

#include "config/settings.hpp"
#include "daemon/sync/booklore_api.hpp"
#include "daemon/sync/sync_result.hpp"
#include "net/http_client.hpp"
#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <span>
#include <string>

namespace booklore::syncd {

/// One sync run against BookLore, in the seed's order: resolve unknown book ids by hash,
/// upload sessions per book in batches (single posts where the server has no batch endpoint),
/// then report deletions. Rows leave the queue only after the server confirmed them.
class sync_engine {
public:
    /// Called after each upload with the sessions uploaded so far and the total.
    using progress_fn = std::function<void(std::int64_t done, std::int64_t total)>;

    /// Throws at start-up for a bad server_url or ca_file.
    sync_engine(boost::asio::any_io_executor executor, const config::settings& settings,
                storage::database& db);

    boost::asio::awaitable<sync_result> run(progress_fn progress);

    /// Makes a running sync stop after its current request (shutdown).
    void stop() { stop_requested_ = true; }

    /// Connections opened so far (benchmarks).
    std::size_t connections_opened() const { return client_.connections_opened(); }

private:
    struct run_state;
    enum class auth { koreader, bearer };

    boost::asio::awaitable<void> resolve_books(run_state& st);
    boost::asio::awaitable<void> upload_sessions(run_state& st);
    boost::asio::awaitable<bool> upload_batch(run_state& st, std::int64_t book_id,
                                              std::span<const storage::pending_session> rows);
    boost::asio::awaitable<bool> upload_singles(run_state& st, std::int64_t book_id,
                                                std::span<const storage::pending_session> rows);
    boost::asio::awaitable<void> report_deletions(run_state& st);
    boost::asio::awaitable<std::optional<std::int64_t>> lookup_hash(run_state& st,
                                                                    const std::string& hash);

    /// Sends with the given credentials; renews an expired or refused Bearer token once.
    /// Empty when no answer came (the reason is in `st`).
    boost::asio::awaitable<std::optional<net::response>> call(run_state& st, net::request req,
                                                              auth how);
    boost::asio::awaitable<bool> ensure_token(run_state& st, bool renew);

    void rows_uploaded(run_state& st, std::span<const storage::pending_session> rows);
    void rows_failed(run_state& st, std::span<const storage::pending_session> rows,
                     const std::string& error);
    /// A storage failure ends the run: nothing more can be recorded safely.
    void storage_failed(run_state& st, const boost::system::error_code& ec);
    void stop_run(run_state& st, std::string error);

    const config::settings& settings_;
    storage::database& db_;
    net::http_client client_;
    std::optional<booklore_api::bearer_token> token_;
    bool stop_requested_ = false;
};

}  // namespace booklore::syncd
