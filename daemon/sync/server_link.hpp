#pragma once

#include "config/settings.hpp"
#include "daemon/sync/server_answer.hpp"
#include "daemon/sync/upload_plan.hpp"
#include "net/http_client.hpp"
#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <tuple>

namespace booklore::syncd::sync {

/// The daemon's side of the connection to BookLore: sends a request with the credentials the
/// plan chose, logs in for Bearer requests, and remembers across runs what must not be
/// tried again (a refused login) and what the server wants (Bearer on an endpoint).
/// True when the BookLore login was refused for exactly these settings (server and account):
/// automatic syncs then do not log in again (`status.login_refused`).
bool login_refusal_remembered(const config::settings& settings, storage::database& db);

class server_link {
public:
    /// An answer, or why there is none (transport failure, login failure) as an outcome.
    struct reply {
        std::optional<net::response> response;
        outcome failure;
    };

    /// Throws at start-up for a bad server_url or ca_file.
    server_link(boost::asio::any_io_executor executor, const config::settings& settings,
                storage::database& db);

    /// At the start of a run: `manual` runs may log in even after a refusal. Seeds `view` with
    /// what earlier runs learned about this server (Bearer per endpoint, no batch endpoint).
    void begin_run(bool manual, server_view& view);
    /// At the end of a run: stores what `view` learned.
    void end_run(const server_view& view);

    /// Sends `req` with KOReader headers or a Bearer token (never both: a stale token next to
    /// good KOReader headers is a 401 on A, W and B).
    boost::asio::awaitable<reply> send(net::request req, credentials how);

    /// Forgets the token: the next Bearer request logs in again.
    void drop_token() { token_.reset(); }

    /// A refused login is remembered for these settings (status says so).
    bool login_refused_remembered();

    boost::asio::awaitable<void> shutdown() { return client_.shutdown(); }
    std::size_t connections_opened() const { return client_.connections_opened(); }

private:
    boost::asio::awaitable<std::optional<outcome>> log_in();

    const config::settings& settings_;
    storage::database& db_;
    net::http_client client_;
    struct token {
        std::string access;
        std::optional<std::int64_t> expires_at;
    };
    std::optional<token> token_;
    bool manual_ = false;
    /// What earlier runs knew (batch usable, its credentials, the single post's), to store
    /// only what changed.
    std::tuple<bool, credentials, credentials> remembered_{true, credentials::koreader,
                                                           credentials::koreader};
};

}  // namespace booklore::syncd::sync
