#include "daemon/sync/sync_engine.hpp"

#include "config/utc_time.hpp"
#include "daemon/sync/booklore_api.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>

namespace booklore::syncd {
namespace asio = boost::asio;
namespace api = booklore_api;
using boost::beast::http::verb;

namespace {

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

std::vector<std::int64_t> ids_of(const std::vector<storage::pending_session>& rows,
                                 const std::vector<std::size_t>& which) {
    std::vector<std::int64_t> ids;
    ids.reserve(which.size());
    for (std::size_t i : which)
        ids.push_back(rows[i].id);
    return ids;
}

sync::http_answer answer_of(const net::response& r) {
    return {r.status, r.content_type, r.body};
}

const char* name_of(sync::outcome_kind k) {
    using enum sync::outcome_kind;
    switch (k) {
        case stored:
            return "stored";
        case partial:
            return "partial";
        case rejected:
            return "rejected";
        case needs_bearer:
            return "needs_bearer";
        case token_refused:
            return "token_refused";
        case bearer_not_accepted:
            return "bearer_not_accepted";
        case forbidden_book:
            return "forbidden_book";
        case book_not_found:
            return "book_not_found";
        case wait_requested:
            return "wait_requested";
        case no_batch_endpoint:
            return "no_batch_endpoint";
        case account_unlinked:
            return "account_unlinked";
        case server_error:
            return "server_error";
        case server_problem:
            return "server_problem";
        case unknown_outcome:
            return "unknown_outcome";
        case not_sent:
            return "not_sent";
        case login_refused:
            return "login_refused";
        case login_rate_limited:
            return "login_rate_limited";
        case done:
            break;
    }
    return "done";
}

}  // namespace

sync_engine::sync_engine(asio::any_io_executor executor, const config::settings& settings,
                         storage::database& db)
    : settings_(settings), db_(db), link_(executor, settings, db), settle_timer_(executor) {}

asio::awaitable<sync_result> sync_engine::run(progress_fn progress, bool manual) {
    run_state st;
    st.progress = std::move(progress);
    stop_requested_ = false;
    spdlog::info("sync_started server={} manual={}", settings_.server_url, manual);
    link_.begin_run(manual, st.view);
    co_await resolve_books(st);
    if (!st.stopped)
        co_await upload_sessions(st);
    if (!st.stopped)
        co_await report_deletions(st);
    link_.end_run(st.view);
    st.result.at_least_once = st.view.no_reconcile;
    co_await link_.shutdown();
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

void sync_engine::stop_run(run_state& st, std::string error, sync::stop_reason reason) {
    spdlog::warn("sync_stopped reason=\"{}\"", error);
    st.stopped = true;
    st.result.error = std::move(error);
    if (reason == sync::stop_reason::unreachable)
        st.result.network = sync_result::reach::unreachable;
}

void sync_engine::storage_failed(run_state& st, const boost::system::error_code& ec) {
    stop_run(st, "queue database: " + ec.message(), sync::stop_reason::none);
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
        while (!st.skipped.contains(book_id)) {
            auto batch = db_.next_batch(book_id, settings_.batch_size, new_idempotency_key());
            if (!batch) {
                storage_failed(st, batch.error());
                co_return;
            }
            if (batch->empty())
                break;
            bool all_uploaded = co_await upload_batch(st, book_id, *batch);
            if (st.stopped)
                co_return;
            if (!all_uploaded)
                break;  // The rest of this book waits for the next trigger.
        }
    }
}

asio::awaitable<bool> sync_engine::upload_batch(run_state& st, std::int64_t book_id,
                                                std::vector<storage::pending_session>& rows) {
    std::vector<sync::plan_row> facts;
    facts.reserve(rows.size());
    for (const auto& r : rows)
        facts.push_back(
            {r.start_time, r.end_time, r.duration_seconds, r.in_doubt_since.has_value()});
    if (!co_await let_doubt_settle(rows))
        co_return false;
    sync::upload_plan plan(st.view, book_id, std::move(facts));
    sync::action a = plan.resume(sync::outcome{});
    bool all_uploaded = true;
    for (;;) {
        for (auto [which, value] : {std::pair{&a.clear_doubt, false}, {&a.mark_doubt, true}}) {
            // Before the request leaves: a kill or a lost reply from here on is checked
            // against the server's list before these rows go again.
            if (which->empty())
                continue;
            if (auto set = db_.set_in_doubt(ids_of(rows, *which), value); !set) {
                storage_failed(st, set.error());
                co_return false;
            }
        }
        switch (a.kind) {
            case sync::action_kind::reconcile:
            case sync::action_kind::send_batch:
            case sync::action_kind::send_single: {
                if (stop_requested_) {
                    stop_run(st, "the daemon is shutting down", sync::stop_reason::none);
                    co_return false;
                }
                auto next = co_await perform_request(st, plan, a, book_id, rows);
                if (!next)
                    co_return false;
                a = std::move(*next);
                continue;
            }
            case sync::action_kind::renew_token:
                link_.drop_token();
                break;
            case sync::action_kind::done:
                co_return all_uploaded;
            case sync::action_kind::stop:
                if (a.reason == sync::stop_reason::server_failing && co_await api_missing(st))
                    stop_run(st,
                             sync::server_problem_text("errors to every upload and a web page "
                                                       "for the KOReader login check"),
                             sync::stop_reason::server_problem);
                else
                    stop_run(st, a.error, a.reason);
                co_return false;
            default:
                if (!settle(st, a, book_id, rows))
                    co_return false;
                all_uploaded = all_uploaded && a.kind == sync::action_kind::mark_uploaded;
                break;
        }
        a = plan.resume(sync::outcome{});
    }
}

asio::awaitable<std::optional<sync::action>> sync_engine::perform_request(
    run_state& st, sync::upload_plan& plan, const sync::action& a, std::int64_t book_id,
    std::vector<storage::pending_session>& rows) {
    if (a.kind == sync::action_kind::reconcile) {
        net::request req{
            verb::get, api::sessions_of_book_path(book_id, a.page, a.page_size), {}, std::nullopt};
        auto r = co_await link_.send(std::move(req), a.how);
        if (!r.response)
            co_return plan.resume(r.failure);
        auto page = sync::classify_session_page(answer_of(*r.response), a.how);
        spdlog::info("reconcile_page book_id={} page={} items={} status={}", book_id, a.page,
                     page.items.size(), r.response->status);
        co_return plan.resume(page);
    }
    const bool batch = a.kind == sync::action_kind::send_batch;
    std::vector<storage::pending_session> sent;
    for (std::size_t i : a.rows)
        sent.push_back(rows[i]);
    const auto& first = sent.front();
    net::request req{
        verb::post,
        std::string(batch ? api::batch_path : api::single_path),
        {{"Idempotency-Key",
          batch ? *first.batch_key : *first.batch_key + "-" + std::to_string(first.id)}},
        batch ? api::batch_body(book_id, first.book_type, sent) : api::single_body(book_id, first)};
    auto r = co_await link_.send(std::move(req), a.how);
    sync::outcome o = r.response ? sync::classify_upload(batch ? sync::request_kind::batch
                                                               : sync::request_kind::single,
                                                         answer_of(*r.response), sent.size(), a.how)
                                 : r.failure;
    if (r.response)
        st.result.network = sync_result::reach::up;
    spdlog::info("upload_answered book_id={} sessions={} batch={} outcome={} status={}", book_id,
                 sent.size(), batch, name_of(o.kind), r.response ? r.response->status : 0);
    co_return plan.resume(o);
}

asio::awaitable<bool> sync_engine::let_doubt_settle(
    const std::vector<storage::pending_session>& rows) {
    std::int64_t latest = 0;
    for (const auto& r : rows)
        latest = std::max(latest, r.in_doubt_since.value_or(0));
    // A server may still store a request whose connection we gave up on: its list is read
    // only once it had as long as we would have waited for its answer.
    const auto settled = std::chrono::system_clock::time_point(std::chrono::seconds(latest)) +
                         std::chrono::milliseconds(
                             static_cast<std::int64_t>(settings_.request_timeout_seconds * 1000));
    const auto wait = settled - std::chrono::system_clock::now();
    if (latest == 0 || wait <= std::chrono::system_clock::duration::zero())
        co_return true;
    spdlog::info("waiting_for_doubt_to_settle ms={}",
                 std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
    settle_timer_.expires_after(wait);
    co_await settle_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !stop_requested_;
}

asio::awaitable<bool> sync_engine::api_missing(run_state& st) {
    // A base path the server does not have answers every POST with 500, like a failing server.
    net::request req{verb::get, std::string(api::koreader_auth_path), {}, std::nullopt};
    auto r = co_await link_.send(std::move(req), sync::credentials::koreader);
    if (r.response && st.result.network == sync_result::reach::up)
        co_return !sync::answers_like_booklore(answer_of(*r.response));
    co_return false;
}

bool sync_engine::settle(run_state& st, const sync::action& a, std::int64_t book_id,
                         const std::vector<storage::pending_session>& rows) {
    auto ids = ids_of(rows, a.rows);
    const auto n = static_cast<std::int64_t>(ids.size());
    if (a.kind == sync::action_kind::mark_uploaded) {
        if (auto moved = db_.mark_uploaded(ids); !moved) {
            // The server has them; they stay queued in doubt and are reconciled next time.
            storage_failed(st, moved.error());
            return false;
        }
        if (a.already_on_server)
            spdlog::info("sessions_already_on_server book_id={} count={}", book_id, n);
        st.result.sessions_uploaded += n;
        // Sessions queued while the sync runs are uploaded by it too.
        st.total = std::max(st.total, st.result.sessions_uploaded);
        if (st.progress)
            st.progress(st.result.sessions_uploaded, st.total);
        return true;
    }
    if (a.kind == sync::action_kind::forget_book) {
        spdlog::warn("book_gone_on_server book_id={}", book_id);
        if (auto forgot = db_.forget_book_id(book_id); !forgot) {
            storage_failed(st, forgot.error());
            return false;
        }
    }
    if (a.kind != sync::action_kind::mark_failed) {
        spdlog::warn("book_skipped book_id={} reason=\"{}\"", book_id, a.error);
        st.skipped.insert(book_id);
    }
    if (auto marked = db_.mark_failed(ids, a.error); !marked) {
        storage_failed(st, marked.error());
        return false;
    }
    st.result.sessions_failed += n;
    return true;
}

}  // namespace booklore::syncd
