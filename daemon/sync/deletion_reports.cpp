// Reporting books deleted on the device: after their own sessions, and never with the call
// that deletes the server's files (DELETE /api/v1/books?ids=).

#include "daemon/sync/booklore_api.hpp"
#include "daemon/sync/sync_engine.hpp"

#include <spdlog/spdlog.h>

namespace booklore::syncd {
namespace asio = boost::asio;
namespace api = booklore_api;
using boost::beast::http::verb;

namespace {

std::string route_missing_text(const std::string& detail) {
    return "the server has no DELETE /api/v1/books/{id} (" + detail +
           "); set deletion_mode to \"unshelve\" with a shelf_id, or to \"off\"";
}

}  // namespace

asio::awaitable<void> sync_engine::report_deletions(run_state& st) {
    if (settings_.deletion == config::deletion_mode::off)
        co_return;
    auto deletions = db_.deletions();
    if (!deletions) {
        storage_failed(st, deletions.error());
        co_return;
    }
    const bool unshelve = settings_.deletion == config::deletion_mode::unshelve;
    // The seed's DELETE takes KOReader headers; a server that wants Bearer says so once.
    sync::credentials how = unshelve || settings_.has_booklore_account()
                                ? sync::credentials::bearer
                                : sync::credentials::koreader;
    for (const auto& d : *deletions) {
        // A server that deletes a book deletes its sessions, and a book gone from the server
        // leaves them nowhere to go: the deletion waits until they have left the queue.
        auto waiting = db_.sessions_pending_for(d);
        if (!waiting) {
            storage_failed(st, waiting.error());
            co_return;
        }
        if (*waiting) {
            spdlog::info("deletion_waits_for_sessions queue_id={}", d.id);
            continue;
        }
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
        std::optional<std::string> failure;
        if (how == sync::credentials::bearer && !settings_.has_booklore_account())
            failure =
                "unshelving needs a BookLore login; set booklore_username and "
                "booklore_password";
        for (bool renewed = false; !failure;) {
            net::request req =
                unshelve ? net::request{verb::post,
                                        std::string(api::shelves_path),
                                        {},
                                        api::unshelve_body(*id, *settings_.shelf_id)}
                         : net::request{verb::delete_, api::book_path(*id), {}, std::nullopt};
            auto r = co_await link_.send(std::move(req), how);
            if (!r.response) {
                auto [reason, error] = sync::explain_stop(r.failure);
                if (r.failure.kind == sync::outcome_kind::unknown_outcome)
                    if (auto marked = db_.mark_deletion_failed(d.id, error); !marked)
                        storage_failed(st, marked.error());
                stop_run(st, std::move(error), reason);
                co_return;
            }
            sync::http_answer answer{r.response->status, r.response->content_type,
                                     r.response->body};
            const std::string detail = sync::describe(answer);
            switch (sync::classify_deletion(answer, how, unshelve)) {
                case sync::deletion_outcome::done:
                    break;
                case sync::deletion_outcome::needs_bearer:
                    if (settings_.has_booklore_account() && how == sync::credentials::koreader) {
                        how = sync::credentials::bearer;
                        continue;
                    }
                    failure = "the server wants a BookLore login to delete books (" + detail +
                              "); set booklore_username and booklore_password";
                    break;
                case sync::deletion_outcome::token_refused:
                    if (!renewed) {
                        renewed = true;
                        link_.drop_token();
                        continue;
                    }
                    failure = "the server refused the BookLore token (" + detail + ")";
                    break;
                case sync::deletion_outcome::route_missing:
                    failure = route_missing_text(detail);
                    break;
                case sync::deletion_outcome::shelf_refused:
                    failure = "shelf_id " + std::to_string(settings_.shelf_id.value_or(0)) +
                              " is not a shelf of booklore_username (" + detail + ")";
                    break;
                case sync::deletion_outcome::server_problem:
                    stop_run(st, sync::server_problem_text(detail),
                             sync::stop_reason::server_problem);
                    co_return;
                case sync::deletion_outcome::failed:
                    failure = detail;
                    break;
            }
            break;
        }
        if (!failure) {
            spdlog::info("deletion_reported queue_id={} book_id={}", d.id, *id);
            if (auto removed = db_.remove_deletion(d.id); !removed) {
                storage_failed(st, removed.error());
                co_return;
            }
            ++st.result.deletions_done;
            continue;
        }
        spdlog::warn("deletion_failed queue_id={} reason=\"{}\"", d.id, *failure);
        if (auto marked = db_.mark_deletion_failed(d.id, *failure); !marked) {
            storage_failed(st, marked.error());
            co_return;
        }
        ++st.result.deletions_failed;
    }
}

}  // namespace booklore::syncd
