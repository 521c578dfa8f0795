// Finding the server's id of a book the reader did not know: by hash where the server can look
// hashes up (W, B, B0), else by the ISBN the reader sent, through the server's book list.

#include "daemon/sync/booklore_api.hpp"
#include "daemon/sync/sync_engine.hpp"

#include <spdlog/spdlog.h>

namespace booklore::syncd {
namespace asio = boost::asio;
namespace api = booklore_api;
using boost::beast::http::verb;

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
        if (!id) {
            auto isbn = db_.isbn_for_hash(hash);
            if (!isbn) {
                storage_failed(st, isbn.error());
                co_return;
            }
            if (*isbn)
                id = co_await lookup_isbn(st, **isbn);
            if (st.stopped)
                co_return;
        }
        if (id)
            if (auto stored = db_.resolve_hash(hash, *id); !stored) {
                storage_failed(st, stored.error());
                co_return;
            }
    }
}

asio::awaitable<std::optional<std::int64_t>> sync_engine::lookup_hash(run_state& st,
                                                                      const std::string& hash) {
    auto cached = db_.cached_book_id(hash);
    if (!cached) {
        storage_failed(st, cached.error());
        co_return std::nullopt;
    }
    if (*cached || !st.hash_lookup_usable)
        co_return *cached;
    // Arguments of a co_await'ed call are named locals: GCC 12 destroys braced temporaries
    // in a co_await expression twice.
    net::request req{verb::get, api::by_hash_path(hash), {}, std::nullopt};
    auto r = co_await link_.send(std::move(req), sync::credentials::koreader);
    if (!r.response) {
        auto [reason, error] = sync::explain_stop(r.failure);
        stop_run(st, std::move(error), reason);
        co_return std::nullopt;
    }
    st.result.network = sync_result::reach::up;
    auto found = sync::classify_hash_lookup(
        {r.response->status, r.response->content_type, r.response->body});
    switch (found.what) {
        case sync::hash_lookup::kind::found:
            spdlog::info("book_resolved book_id={} hash={}", found.book_id, hash.substr(0, 8));
            co_return found.book_id;
        case sync::hash_lookup::kind::not_found:
            spdlog::info("book_not_on_server hash={}", hash.substr(0, 8));
            break;
        case sync::hash_lookup::kind::unsupported:
            spdlog::info("lookup_by_hash_unsupported answer=\"{}\"", found.detail);
            st.hash_lookup_usable = false;
            break;
        case sync::hash_lookup::kind::refused:
            if (settings_.has_booklore_account()) {
                // Sessions can still go with the BookLore account; books are then matched
                // by ISBN only.
                spdlog::warn("lookup_by_hash_refused answer=\"{}\"", found.detail);
                st.hash_lookup_usable = false;
                break;
            }
            stop_run(st,
                     "the server refused the KOReader account (" + found.detail +
                         "); check username and password in the configuration",
                     sync::stop_reason::credentials_refused);
            break;
        case sync::hash_lookup::kind::server_problem:
            stop_run(st, sync::server_problem_text(found.detail),
                     sync::stop_reason::server_problem);
            break;
        case sync::hash_lookup::kind::failed:
            spdlog::warn("lookup_by_hash_failed hash={} answer=\"{}\"", hash.substr(0, 8),
                         found.detail);
            break;
    }
    co_return std::nullopt;
}

asio::awaitable<std::optional<std::int64_t>> sync_engine::lookup_isbn(run_state& st,
                                                                      const std::string& isbn) {
    if (!settings_.has_booklore_account())
        co_return std::nullopt;  // every book list needs a BookLore token
    if (!st.isbns) {
        st.isbns.emplace();
        net::request req{verb::get, std::string(api::books_path), {}, std::nullopt};
        auto r = co_await link_.send(std::move(req), sync::credentials::bearer);
        if (!r.response) {
            auto [reason, error] = sync::explain_stop(r.failure);
            stop_run(st, std::move(error), reason);
            co_return std::nullopt;
        }
        auto list = sync::classify_book_list(
            {r.response->status, r.response->content_type, r.response->body},
            sync::credentials::bearer);
        if (list.what != sync::book_list::kind::list)
            spdlog::warn("book_list_unreadable answer=\"{}\"", list.detail);
        for (auto& [number, id] : list.isbns)
            st.isbns->emplace(std::move(number), id);
        spdlog::info("book_list_read isbns={}", st.isbns->size());
    }
    // Exactly one book with this ISBN, or no match: a guess would file sessions under
    // another book.
    auto [first, last] = st.isbns->equal_range(isbn);
    std::optional<std::int64_t> id;
    for (auto it = first; it != last; ++it) {
        if (id && *id != it->second) {
            spdlog::info("isbn_ambiguous isbn={}", isbn);
            co_return std::nullopt;
        }
        id = it->second;
    }
    if (id)
        spdlog::info("book_resolved_by_isbn book_id={} isbn={}", *id, isbn);
    co_return id;
}

}  // namespace booklore::syncd
