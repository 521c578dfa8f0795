// `import_history`: the past sessions in KOReader's reading statistics, queued like live ones
// (INTERFACE.md "Reading history").
#include "config/spawn_logged.hpp"
#include "daemon/requests/event_fields.hpp"
#include "daemon/requests/handlers.hpp"
#include "daemon/requests/history_import.hpp"
#include "storage/koreader_statistics.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>
#include <variant>

namespace booklore::syncd::handlers {
namespace {

namespace asio = boost::asio;

/// Sessions per transaction: one fsync serves many rows, and between two groups a progress
/// event goes out and live requests get their turn on the daemon's one thread.
constexpr std::size_t import_group = 200;

/// The file made into sessions, before anything is queued.
struct history_read {
    std::vector<storage::session_record> sessions;
    std::int64_t skipped = 0;  ///< too short, or of a book without a usable md5
};

/// What the queueing did.
struct import_tally {
    std::int64_t imported = 0;
    std::int64_t skipped = 0;
    std::set<std::string> books;  ///< hashes with at least one session imported
    std::optional<boost::system::error_code> failed;
    /// The daemon began to shut down between two groups (while a sync still finishes). Its
    /// socket is closed by then, so only the log tells; importing again adds the rest.
    bool stopped = false;
};

awaitable<void> next_turn() {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

ipc::message unreadable(const ipc::request& req, const storage::statistics_error& e) {
    spdlog::warn("history_unreadable error=\"{}\"", e.message);
    if (e.what == storage::statistics_error::kind::busy)
        return req.error(ipc::error_kind::unavailable, e.message);
    return req.error(ipc::error_kind::invalid_field, e.message, "path");
}

/// The server's type for a book: from the file the reader opened with this hash, when the
/// daemon saw it (book_cache), else EPUB as for a live session without a path.
std::string book_type_of(storage::database& db, const std::optional<std::string>& md5) {
    if (!md5)
        return book_type_for_path("");
    // A failed lookup costs only the type; a failing queue database shows at the insert.
    auto path = db.file_path_for_hash(*md5);
    return book_type_for_path(path && *path ? **path : "");
}

/// Reads every book of the file, one turn of the event loop per book.
awaitable<std::variant<history_read, storage::statistics_error>> read_history(
    storage::database& db, const std::string& path, std::int64_t min_session_seconds) {
    auto file = storage::koreader_statistics::open(path);
    if (!file)
        co_return file.error();
    history_read out;
    for (;;) {
        auto book = file->next_book();
        if (!book)
            co_return book.error();
        if (!*book)
            co_return out;
        auto built =
            sessions_from_history(**book, min_session_seconds, book_type_of(db, (*book)->md5));
        out.skipped += built.skipped;
        std::move(built.sessions.begin(), built.sessions.end(), std::back_inserter(out.sessions));
        co_await next_turn();
    }
}

/// Queues the sessions that no held session overlaps, group by group. Overlap check and insert
/// of a group run without a suspension between them, so nothing else can slip in.
awaitable<import_tally> queue_history(request_context& ctx,
                                      std::vector<storage::session_record> sessions) {
    import_tally tally;
    std::int64_t total = static_cast<std::int64_t>(sessions.size());
    std::span<const storage::session_record> rest(sessions);
    while (!rest.empty()) {
        auto group = rest.first(std::min(rest.size(), import_group));
        rest = rest.subspan(group.size());
        auto held = ctx.db.overlaps_held(group);
        if (!held) {
            tally.failed = held.error();
            co_return tally;
        }
        std::vector<storage::ingest_item> items;
        for (std::size_t i = 0; i < group.size(); ++i)
            if (!(*held)[i])
                items.emplace_back(group[i]);
        tally.skipped += static_cast<std::int64_t>(group.size() - items.size());
        auto queued = ctx.db.enqueue(items);
        if (!queued) {
            tally.failed = queued.error();
            co_return tally;
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
            // A duplicate event_id: this session was imported before and has left the queue
            // since (cleared), so it is not queued again.
            if ((*queued)[i].duplicate) {
                ++tally.skipped;
                continue;
            }
            ++tally.imported;
            tally.books.insert(std::get<storage::session_record>(items[i]).book_hash);
        }
        auto progress = ipc::message::event("import_progress");
        progress.set("done", total - static_cast<std::int64_t>(rest.size())).set("total", total);
        ctx.daemon.announce(progress);
        co_await next_turn();
        if (ctx.daemon.stopping()) {
            tally.stopped = !rest.empty();
            break;
        }
    }
    if (tally.imported > 0 && !ctx.daemon.stopping())
        ctx.daemon.session_queued();
    co_return tally;
}

void log_outcome(const import_tally& t, std::int64_t read_skipped) {
    spdlog::info("history_imported imported={} skipped={} books={} complete={}", t.imported,
                 t.skipped + read_skipped, t.books.size(), !t.failed && !t.stopped);
}

ipc::message reply(const ipc::request& req, const import_tally& t, std::int64_t read_skipped) {
    if (t.failed && t.imported == 0)
        return storage_failure(req, *t.failed);
    if (t.failed)
        return req.error(storage::is_storage_full(*t.failed) ? ipc::error_kind::storage_full
                                                             : ipc::error_kind::storage_error,
                         "the queue database failed (" + t.failed->message() + ") after " +
                             std::to_string(t.imported) +
                             " sessions were imported; importing again adds only the rest");
    return std::move(req.ok()
                         .set("imported", t.imported)
                         .set("skipped", t.skipped + read_skipped)
                         .set("books", static_cast<std::int64_t>(t.books.size())));
}

}  // namespace

awaitable<ipc::message> import_history(request_context& ctx, const ipc::request& req,
                                       ipc::client_context&) {
    const rapidjson::Value* path = req.field("path");
    if (!path || !path->IsString() || path->GetStringLength() == 0)
        co_return req.error(ipc::error_kind::invalid_field,
                            "\"path\" must name KOReader's statistics file (statistics.sqlite3 "
                            "in its settings folder)",
                            "path");
    std::optional<bool> wait;
    if (auto bad = require_bool(req, "wait", wait))
        co_return std::move(*bad);
    std::string file(path->GetString(), path->GetStringLength());
    auto read = co_await read_history(ctx.db, file, ctx.settings.current().min_session_seconds);
    if (auto* bad = std::get_if<storage::statistics_error>(&read))
        co_return unreadable(req, *bad);
    auto& history = std::get<history_read>(read);
    spdlog::info("history_read path={} sessions={} skipped={}", file, history.sessions.size(),
                 history.skipped);
    if (wait.value_or(true)) {
        auto tally = co_await queue_history(ctx, std::move(history.sessions));
        log_outcome(tally, history.skipped);
        co_return reply(req, tally, history.skipped);
    }
    auto total = static_cast<std::int64_t>(history.sessions.size());
    // Nobody waits for the answer: the subscribers see import_progress, the log the outcome.
    auto task = [](request_context& c, history_read h) -> awaitable<void> {
        auto tally = co_await queue_history(c, std::move(h.sessions));
        log_outcome(tally, h.skipped);
    };
    spawn_logged(co_await asio::this_coro::executor, task(ctx, std::move(history)),
                 "import_history");
    co_return std::move(req.ok().set("started", true).set("total", total));
}

}  // namespace booklore::syncd::handlers
