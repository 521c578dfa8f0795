#include "daemon/sync/sync_engine.hpp"
#include "config/utc_time.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace booklore::syncd {
namespace asio = boost::asio;
namespace api = booklore_api;
using boost::beast::http::verb;

namespace {

/// After this many server failures in a row the run stops: the server is in trouble, and the
/// rows not yet tried keep their retry counts.
constexpr int max_failures_in_a_row = 3;
/// A token is renewed this long before the expiry it claims, so that it never dies mid-sync.
constexpr auto token_margin = std::chrono::minutes(1);

std::string new_idempotency_key() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        throw std::runtime_error("no random numbers for an idempotency key");
    static constexpr char hex[] = "0123456789abcdef";
    std::string key;
    for (unsigned char b : bytes) {
        key.push_back(hex[b >> 4]);
        key.push_back(hex[b & 0xf]);
    }
    return key;
}

net::client_options client_options_for(const config::settings& s) {
    net::client_options o;
    o.server_url = s.server_url;
    o.ca_file = s.ca_file;
    o.timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(s.request_timeout_seconds * 1000));
    return o;
}

api::http_answer answer_of(const net::response& r) {
    return {r.status, r.content_type, r.body};
}

std::vector<std::int64_t> ids_of(std::span<const storage::pending_session> rows) {
    std::vector<std::int64_t> ids;
    ids.reserve(rows.size());
    for (const auto& r : rows)
        ids.push_back(r.id);
    return ids;
}

}  // namespace

struct sync_engine::run_state {
    sync_result result;
    progress_fn progress;
    std::int64_t total = 0;
    bool stopped = false;
    /// The last request got no answer; `transport_error` says why.
    bool no_answer = false;
    bool request_reached_server = false;
    std::string transport_error;
    int failures_in_a_row = 0;
    bool batch_usable = true;
    bool batch_with_bearer = false;
    bool single_with_bearer = false;
    bool lookup_usable = true;
};

sync_engine::sync_engine(asio::any_io_executor executor, const config::settings& settings,
                         storage::database& db)
    : settings_(settings), db_(db), client_(executor, client_options_for(settings)) {}

asio::awaitable<sync_result> sync_engine::run(progress_fn progress) {
    run_state st;
    st.progress = std::move(progress);
    stop_requested_ = false;
    spdlog::info("sync_started server={}", settings_.server_url);
    co_await resolve_books(st);
    if (!st.stopped)
        co_await upload_sessions(st);
    if (!st.stopped)
        co_await report_deletions(st);
    co_await client_.shutdown();
    if (auto counts = db_.counts()) {
        st.result.pending_sessions = counts->pending_sessions;
        st.result.pending_deletions = counts->pending_deletions;
        st.result.sessions_unresolved = counts->unresolved_sessions;
    }
    st.result.finished_at = utc_now_iso();
    spdlog::info(
        "sync_finished uploaded={} failed={} unresolved={} deletions_done={} "
        "deletions_failed={} pending={} network={} error=\"{}\"",
        st.result.sessions_uploaded, st.result.sessions_failed, st.result.sessions_unresolved,
        st.result.deletions_done, st.result.deletions_failed, st.result.pending_sessions,
        to_string(st.result.network), st.result.error.value_or(""));
    co_return st.result;
}

void sync_engine::stop_run(run_state& st, std::string error) {
    spdlog::warn("sync_stopped reason=\"{}\"", error);
    st.stopped = true;
    st.result.error = std::move(error);
}

void sync_engine::storage_failed(run_state& st, const boost::system::error_code& ec) {
    stop_run(st, "queue database: " + ec.message());
}

asio::awaitable<bool> sync_engine::ensure_token(run_state& st, bool renew) {
    if (!settings_.has_booklore_account()) {
        stop_run(st,
                 "the server wants a BookLore login; set booklore_username and "
                 "booklore_password");
        co_return false;
    }
    auto now = std::chrono::system_clock::now();
    if (!renew && token_ && (!token_->expires_at || *token_->expires_at - token_margin > now))
        co_return true;
    token_.reset();
    net::request login{verb::post,
                       std::string(api::login_path),
                       {},
                       api::login_body(*settings_.booklore_username, *settings_.booklore_password)};
    auto sent = co_await client_.send(std::move(login));
    if (auto* f = std::get_if<net::failure>(&sent)) {
        st.no_answer = true;
        st.transport_error = f->detail;
        stop_run(st, "cannot reach the server to log in: " + f->detail);
        st.result.network = sync_result::reach::unreachable;
        co_return false;
    }
    auto& r = std::get<net::response>(sent);
    token_ = api::parse_login(answer_of(r));
    if (!token_) {
        stop_run(st, "BookLore refused the login of booklore_username (" +
                         api::describe(answer_of(r)) + "); check the BookLore account");
        co_return false;
    }
    spdlog::info("bearer_token_obtained");
    co_return true;
}

asio::awaitable<std::optional<net::response>> sync_engine::call(run_state& st, net::request req,
                                                                auth how) {
    st.no_answer = false;
    st.request_reached_server = false;
    bool renewed = false;
    for (;;) {
        if (stop_requested_) {
            stop_run(st, "the daemon is shutting down");
            co_return std::nullopt;
        }
        net::request attempt = req;
        attempt.headers.emplace_back("x-auth-user", settings_.username);
        attempt.headers.emplace_back("x-auth-key", settings_.password_md5);
        if (how == auth::bearer) {
            if (!co_await ensure_token(st, false))
                co_return std::nullopt;
            attempt.headers.emplace_back("Authorization", "Bearer " + token_->access_token);
        }
        auto sent = co_await client_.send(std::move(attempt));
        if (auto* f = std::get_if<net::failure>(&sent)) {
            spdlog::warn("request_failed target={} reached_server={} error=\"{}\"", req.target,
                         !f->before_request_sent, f->detail);
            // A lost reply is counted against the rows; the next sync sends the same batch
            // with the same Idempotency-Key.
            st.no_answer = true;
            st.request_reached_server = !f->before_request_sent;
            st.transport_error = f->detail;
            st.result.network = sync_result::reach::unreachable;
            co_return std::nullopt;
        }
        auto& r = std::get<net::response>(sent);
        st.result.network = sync_result::reach::up;
        spdlog::debug("request_done target={} status={}", req.target, r.status);
        if (how == auth::bearer && r.status == 401 && !renewed) {
            renewed = true;
            token_.reset();
            continue;
        }
        co_return std::move(r);
    }
}

asio::awaitable<std::optional<std::int64_t>> sync_engine::lookup_hash(run_state& st,
                                                                      const std::string& hash) {
    auto cached = db_.cached_book_id(hash);
    if (!cached) {
        storage_failed(st, cached.error());
        co_return std::nullopt;
    }
    if (*cached || !st.lookup_usable)
        co_return *cached;
    // Arguments of a co_await'ed call are named locals: GCC 12 destroys braced temporaries
    // in a co_await expression twice.
    net::request req{verb::get, api::by_hash_path(hash), {}, std::nullopt};
    auto r = co_await call(st, std::move(req), auth::koreader);
    if (!r) {
        if (!st.stopped)
            stop_run(st, "cannot reach the server: " + st.transport_error);
        co_return std::nullopt;
    }
    auto found = api::classify_lookup(answer_of(*r));
    switch (found.what) {
        case api::lookup::kind::found:
            spdlog::info("book_resolved book_id={} hash={}", found.book_id, hash.substr(0, 8));
            co_return found.book_id;
        case api::lookup::kind::not_found:
            spdlog::info("book_not_on_server hash={}", hash.substr(0, 8));
            break;
        case api::lookup::kind::unsupported:
            spdlog::warn("lookup_by_hash_unsupported status={}", r->status);
            st.lookup_usable = false;
            break;
        case api::lookup::kind::auth_refused:
            stop_run(st, "the server refused the KOReader account (" +
                             api::describe(answer_of(*r)) +
                             "); check username and password in the configuration");
            break;
        case api::lookup::kind::failed:
            spdlog::warn("lookup_by_hash_failed hash={} answer=\"{}\"", hash.substr(0, 8),
                         api::describe(answer_of(*r)));
            break;
    }
    co_return std::nullopt;
}

asio::awaitable<void> sync_engine::resolve_books(run_state& st) {
    auto hashes = db_.unresolved_hashes();
    if (!hashes) {
        storage_failed(st, hashes.error());
        co_return;
    }
    for (const auto& hash : *hashes) {
        auto id = co_await lookup_hash(st, hash);
        if (st.stopped)
            co_return;
        if (id)
            if (auto stored = db_.resolve_hash(hash, *id); !stored) {
                storage_failed(st, stored.error());
                co_return;
            }
    }
}

void sync_engine::rows_uploaded(run_state& st, std::span<const storage::pending_session> rows) {
    auto ids = ids_of(rows);
    if (auto moved = db_.mark_uploaded(ids); !moved) {
        // The server has them; they stay queued and may be sent again (at least once).
        storage_failed(st, moved.error());
        return;
    }
    st.failures_in_a_row = 0;
    st.result.sessions_uploaded += static_cast<std::int64_t>(rows.size());
    // Sessions queued while the sync runs are uploaded by it too.
    st.total = std::max(st.total, st.result.sessions_uploaded);
    if (st.progress)
        st.progress(st.result.sessions_uploaded, st.total);
}

void sync_engine::rows_failed(run_state& st, std::span<const storage::pending_session> rows,
                              const std::string& error) {
    auto ids = ids_of(rows);
    if (auto marked = db_.mark_failed(ids, error); !marked) {
        storage_failed(st, marked.error());
        return;
    }
    st.result.sessions_failed += static_cast<std::int64_t>(rows.size());
    if (++st.failures_in_a_row >= max_failures_in_a_row)
        stop_run(st, "the server keeps failing: " + error);
}

asio::awaitable<void> sync_engine::upload_sessions(run_state& st) {
    auto counts = db_.counts();
    auto books = db_.books_ready();
    if (!counts || !books) {
        storage_failed(st, counts ? books.error() : counts.error());
        co_return;
    }
    st.total = counts->pending_sessions - counts->unresolved_sessions;
    for (std::int64_t book_id : *books) {
        for (;;) {
            auto batch = db_.next_batch(book_id, settings_.batch_size, new_idempotency_key());
            if (!batch) {
                storage_failed(st, batch.error());
                co_return;
            }
            if (batch->empty())
                break;
            bool uploaded = st.batch_usable ? co_await upload_batch(st, book_id, *batch)
                                            : co_await upload_singles(st, book_id, *batch);
            if (st.stopped)
                co_return;
            if (!uploaded)
                break;  // The rest of this book waits for the next trigger.
        }
    }
}

asio::awaitable<bool> sync_engine::upload_batch(run_state& st, std::int64_t book_id,
                                                std::span<const storage::pending_session> rows) {
    const std::string& key = *rows.front().batch_key;
    for (;;) {
        net::request req{verb::post,
                         std::string(api::batch_path),
                         {{"Idempotency-Key", key}},
                         api::batch_body(book_id, rows.front().book_type, rows)};
        auto r =
            co_await call(st, std::move(req), st.batch_with_bearer ? auth::bearer : auth::koreader);
        if (!r) {
            if (st.request_reached_server)
                rows_failed(st, rows, st.transport_error);
            if (!st.stopped)
                stop_run(st, "cannot reach the server: " + st.transport_error);
            co_return false;
        }
        auto outcome = api::classify_batch(answer_of(*r), rows.size());
        spdlog::info("batch_answered book_id={} sessions={} status={}", book_id, rows.size(),
                     r->status);
        switch (outcome) {
            case api::upload_outcome::stored:
                rows_uploaded(st, rows);
                co_return !st.stopped;
            case api::upload_outcome::no_batch_here:
                if (r->status == 403 && !st.batch_with_bearer && settings_.has_booklore_account()) {
                    // Older forks accept the batch with a BookLore token only.
                    st.batch_with_bearer = true;
                    continue;
                }
                spdlog::info("batch_endpoint_unusable status={} fallback=single", r->status);
                st.batch_usable = false;
                co_return co_await upload_singles(st, book_id, rows);
            case api::upload_outcome::rejected:
                // One bad session must not hold back the others: send them one by one.
                co_return co_await upload_singles(st, book_id, rows);
            case api::upload_outcome::book_not_found:
                spdlog::warn("book_gone_on_server book_id={}", book_id);
                if (auto forgot = db_.forget_book_id(book_id); !forgot)
                    storage_failed(st, forgot.error());
                co_return false;
            case api::upload_outcome::auth_refused:
                stop_run(st, "the server refused our credentials for the batch upload (" +
                                 api::describe(answer_of(*r)) + ")");
                co_return false;
            case api::upload_outcome::retry_later:
                rows_failed(st, rows, api::describe(answer_of(*r)));
                if (r->status == 429 || r->status == 503)
                    stop_run(st,
                             "the server asked us to wait (" + api::describe(answer_of(*r)) + ")");
                co_return false;
        }
    }
}

asio::awaitable<bool> sync_engine::upload_singles(run_state& st, std::int64_t book_id,
                                                  std::span<const storage::pending_session> rows) {
    bool all_uploaded = true;
    for (std::size_t i = 0; i < rows.size() && !st.stopped;) {
        const auto& row = rows[i];
        auto one = rows.subspan(i, 1);
        net::request req{verb::post,
                         std::string(api::single_path),
                         {{"Idempotency-Key", *row.batch_key + "-" + std::to_string(row.id)}},
                         api::single_body(book_id, row)};
        auto r = co_await call(st, std::move(req),
                               st.single_with_bearer ? auth::bearer : auth::koreader);
        if (!r) {
            if (st.request_reached_server)
                rows_failed(st, one, st.transport_error);
            if (!st.stopped)
                stop_run(st, "cannot reach the server: " + st.transport_error);
            co_return false;
        }
        switch (api::classify_single(answer_of(*r))) {
            case api::upload_outcome::stored:
                rows_uploaded(st, one);
                break;
            case api::upload_outcome::auth_refused:
                if (r->status == 403 && !st.single_with_bearer &&
                    settings_.has_booklore_account()) {
                    // The official server takes sessions with a BookLore token only.
                    st.single_with_bearer = true;
                    continue;
                }
                stop_run(st, "the server refused our credentials for the session upload (" +
                                 api::describe(answer_of(*r)) +
                                 "); check the KOReader account, or set booklore_username "
                                 "and booklore_password for servers that need a login");
                co_return false;
            case api::upload_outcome::book_not_found:
                spdlog::warn("book_gone_on_server book_id={}", book_id);
                if (auto forgot = db_.forget_book_id(book_id); !forgot)
                    storage_failed(st, forgot.error());
                co_return false;
            case api::upload_outcome::no_batch_here:
            case api::upload_outcome::rejected:
            case api::upload_outcome::retry_later:
                rows_failed(st, one, api::describe(answer_of(*r)));
                all_uploaded = false;
                if (r->status == 429 || r->status == 503)
                    stop_run(st,
                             "the server asked us to wait (" + api::describe(answer_of(*r)) + ")");
                break;
        }
        ++i;
    }
    co_return all_uploaded && !st.stopped;
}

asio::awaitable<void> sync_engine::report_deletions(run_state& st) {
    if (settings_.deletion == config::deletion_mode::off)
        co_return;
    auto deletions = db_.deletions();
    if (!deletions) {
        storage_failed(st, deletions.error());
        co_return;
    }
    for (const auto& d : *deletions) {
        std::optional<std::int64_t> id = d.book_id;
        if (!id) {
            auto cached = db_.book_id_for(d.file_path, d.book_hash);
            if (!cached) {
                storage_failed(st, cached.error());
                co_return;
            }
            id = *cached;
        }
        if (!id && d.book_hash)
            id = co_await lookup_hash(st, *d.book_hash);
        if (st.stopped)
            co_return;
        if (!id) {
            spdlog::info("deletion_waits_for_book_id queue_id={}", d.id);
            continue;
        }
        net::request req;
        auth how = settings_.has_booklore_account() ? auth::bearer : auth::koreader;
        if (settings_.deletion == config::deletion_mode::unshelve) {
            req = {verb::post,
                   std::string(api::shelves_path),
                   {},
                   api::unshelve_body(*id, *settings_.shelf_id)};
            how = auth::bearer;
        } else {
            req = {verb::delete_, api::book_path(*id), {}, std::nullopt};
        }
        auto r = co_await call(st, std::move(req), how);
        if (!r) {
            if (st.request_reached_server)
                if (auto marked = db_.mark_deletion_failed(d.id, st.transport_error); !marked)
                    storage_failed(st, marked.error());
            if (!st.stopped)
                stop_run(st, "cannot reach the server: " + st.transport_error);
            co_return;
        }
        auto answer = answer_of(*r);
        if (api::deletion_done(answer)) {
            spdlog::info("deletion_reported queue_id={} book_id={} status={}", d.id, *id,
                         r->status);
            if (auto removed = db_.remove_deletion(d.id); !removed) {
                storage_failed(st, removed.error());
                co_return;
            }
            ++st.result.deletions_done;
        } else {
            spdlog::warn("deletion_failed queue_id={} answer=\"{}\"", d.id, api::describe(answer));
            if (auto marked = db_.mark_deletion_failed(d.id, api::describe(answer)); !marked) {
                storage_failed(st, marked.error());
                co_return;
            }
            ++st.result.deletions_failed;
        }
    }
}

}  // namespace booklore::syncd
