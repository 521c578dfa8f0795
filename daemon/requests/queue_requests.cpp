// The requests that queue and inspect: sessions, deletions, books opened, the pending lists.
#include "daemon/requests/event_fields.hpp"
#include "daemon/requests/handlers.hpp"

#include <spdlog/spdlog.h>

namespace booklore::syncd::handlers {
namespace {

constexpr std::int64_t default_list_limit = 100;
constexpr std::int64_t max_list_limit = 10000;

template <typename T>
void set_optional(rapidjson::Value& obj, const char* key, const std::optional<T>& v,
                  rapidjson::Document::AllocatorType& a) {
    rapidjson::Value name(key, a);
    if (!v)
        obj.AddMember(name, rapidjson::Value(rapidjson::kNullType), a);
    else if constexpr (std::is_same_v<T, std::string>)
        obj.AddMember(name, rapidjson::Value(v->c_str(), a), a);
    else
        obj.AddMember(name, *v, a);
}

}  // namespace

ipc::message storage_failure(const ipc::request& req, const boost::system::error_code& ec) {
    spdlog::error("storage_failed request={} error=\"{}\"", req.type(), ec.message());
    if (storage::is_storage_full(ec))
        return req.error(ipc::error_kind::storage_full,
                         "the device's storage is full; nothing was queued. Free some space "
                         "and send again");
    return req.error(ipc::error_kind::storage_error,
                     "the queue database failed (" + ec.message() + "); nothing was queued");
}

awaitable<ipc::message> session_end(request_context& ctx, const ipc::request& req,
                                    ipc::client_context&) {
    auto parsed = parse_session_end(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(ipc::error_kind::invalid_field, bad->message, bad->field);
    auto& session = std::get<storage::session_record>(parsed);
    if (session.duration_seconds < ctx.settings.current().min_session_seconds) {
        if (session.file_path) {
            // A named argument: GCC 12 destroys braced temporaries in a co_await twice.
            storage::ingest_item seen =
                storage::book_sighting{*session.file_path, session.book_hash, session.book_id,
                                       session.book_title, session.isbn};
            co_await ctx.ingest.submit(std::move(seen));
        }
        co_return std::move(req.ok().set("queued", false).set("reason", "too_short"));
    }
    storage::ingest_item item = std::move(session);
    auto outcome = co_await ctx.ingest.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    spdlog::info("session_queued queue_id={} duplicate={}", outcome->queue_id, outcome->duplicate);
    if (!outcome->duplicate)
        ctx.daemon.session_queued();
    co_return std::move(req.ok()
                            .set("queued", true)
                            .set("queue_id", outcome->queue_id)
                            .set("duplicate", outcome->duplicate));
}

awaitable<ipc::message> book_deleted(request_context& ctx, const ipc::request& req,
                                     ipc::client_context&) {
    auto parsed = parse_book_deleted(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(ipc::error_kind::invalid_field, bad->message, bad->field);
    if (ctx.settings.current().deletion == config::deletion_mode::off)
        co_return std::move(req.ok().set("queued", false).set("reason", "deletion_mode_off"));
    storage::ingest_item item = std::move(std::get<storage::deletion_record>(parsed));
    auto outcome = co_await ctx.ingest.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    spdlog::info("deletion_queued queue_id={} duplicate={}", outcome->queue_id, outcome->duplicate);
    co_return std::move(req.ok()
                            .set("queued", true)
                            .set("queue_id", outcome->queue_id)
                            .set("duplicate", outcome->duplicate));
}

awaitable<ipc::message> book_opened(request_context& ctx, const ipc::request& req,
                                    ipc::client_context&) {
    auto parsed = parse_book_opened(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(ipc::error_kind::invalid_field, bad->message, bad->field);
    storage::ingest_item item = std::move(std::get<storage::book_sighting>(parsed));
    auto outcome = co_await ctx.ingest.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    co_return req.ok();
}

awaitable<ipc::message> list_pending(request_context& ctx, const ipc::request& req,
                                     ipc::client_context&) {
    std::int64_t limit = default_list_limit;
    if (const rapidjson::Value* v = req.field("limit")) {
        if (!v->IsInt64() || v->GetInt64() < 1 || v->GetInt64() > max_list_limit)
            co_return req.error(ipc::error_kind::invalid_field,
                                "\"limit\" must be a whole number from 1 to 10000", "limit");
        limit = v->GetInt64();
    }
    auto sessions = ctx.db.list_sessions(limit);
    if (!sessions)
        co_return storage_failure(req, sessions.error());
    auto deletions = ctx.db.list_deletions(limit);
    if (!deletions)
        co_return storage_failure(req, deletions.error());
    ipc::message reply = req.ok();
    auto& a = reply.allocator();
    rapidjson::Value list(rapidjson::kArrayType);
    for (const auto& s : *sessions) {
        rapidjson::Value row(rapidjson::kObjectType);
        row.AddMember("id", s.id, a);
        set_optional(row, "book_id", s.book_id, a);
        row.AddMember("book_hash", rapidjson::Value(s.book_hash.c_str(), a), a);
        set_optional(row, "title", s.book_title, a);
        row.AddMember("duration_seconds", s.duration_seconds, a);
        row.AddMember("retry_count", s.retry_count, a);
        set_optional(row, "last_error", s.last_error, a);
        row.AddMember("created_at", rapidjson::Value(s.created_at.c_str(), a), a);
        list.PushBack(row, a);
    }
    reply.set("sessions", std::move(list));
    rapidjson::Value dels(rapidjson::kArrayType);
    for (const auto& d : *deletions) {
        rapidjson::Value row(rapidjson::kObjectType);
        row.AddMember("id", d.id, a);
        row.AddMember("file_path", rapidjson::Value(d.file_path.c_str(), a), a);
        set_optional(row, "book_id", d.book_id, a);
        row.AddMember("retry_count", d.retry_count, a);
        set_optional(row, "last_error", d.last_error, a);
        row.AddMember("created_at", rapidjson::Value(d.created_at.c_str(), a), a);
        dels.PushBack(row, a);
    }
    reply.set("deletions", std::move(dels));
    co_return reply;
}

awaitable<ipc::message> clear_pending(request_context& ctx, const ipc::request& req,
                                      ipc::client_context&) {
    const rapidjson::Value* confirm = req.field("confirm");
    if (confirm && !confirm->IsBool())
        co_return req.error(ipc::error_kind::invalid_field, "\"confirm\" must be true or false",
                            "confirm");
    if (!confirm || !confirm->GetBool())
        co_return req.error(ipc::error_kind::confirmation_required,
                            "clearing deletes every pending session for good; send "
                            "\"confirm\":true to do it",
                            "confirm");
    auto cleared = ctx.db.clear_sessions();
    if (!cleared)
        co_return storage_failure(req, cleared.error());
    spdlog::warn("pending_cleared sessions={}", *cleared);
    co_return std::move(req.ok().set("cleared", *cleared));
}

}  // namespace booklore::syncd::handlers
