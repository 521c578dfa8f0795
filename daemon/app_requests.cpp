// The socket requests of INTERFACE.md, answered by the app.
#include "daemon/app.hpp"
#include "daemon/event_fields.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "booklore/version.hpp"

namespace booklore::syncd {
namespace asio = boost::asio;
using ipc::error_code;

namespace {

constexpr std::int64_t default_list_limit = 100;
constexpr std::int64_t max_list_limit = 10000;

/// Reads an optional boolean field; the string "yes" is not a boolean.
std::optional<bool> flag(const ipc::request& req, const char* name, bool& bad) {
    const rapidjson::Value* v = req.field(name);
    if (!v)
        return std::nullopt;
    if (!v->IsBool()) {
        bad = true;
        return std::nullopt;
    }
    return v->GetBool();
}

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

/// `sync_now`'s answer when the network is down: no run, the queue as it is.
ipc::message network_down_reply(storage::database& db, ipc::message reply) {
    auto counts = db.counts();
    sync_result r;
    r.network = "down";
    if (counts) {
        r.pending_sessions = counts->pending_sessions;
        r.pending_deletions = counts->pending_deletions;
    }
    reply.set("result", to_json(r, reply.allocator()));
    return reply;
}

}  // namespace

asio::awaitable<ipc::message> app::handle(const ipc::request& req, ipc::client_context& client) {
    const std::string& type = req.type();
    if (shutting_down_)
        co_return req.error(error_code::unavailable, "the daemon is shutting down");
    if (type == "session_end")
        co_return co_await on_session_end(req);
    if (type == "book_deleted")
        co_return co_await on_book_deleted(req);
    if (type == "book_opened")
        co_return co_await on_book_opened(req);
    if (type == "sync_now")
        co_return co_await on_sync_now(req);
    if (type == "status")
        co_return on_status(req);
    if (type == "list_pending")
        co_return on_list_pending(req);
    if (type == "clear_pending")
        co_return on_clear_pending(req);
    if (type == "set_settings")
        co_return on_set_settings(req);
    if (type == "subscribe") {
        client.subscribed = true;
        co_return std::move(req.ok().set("subscribed", true));
    }
    if (type == "resume")
        co_return on_resume(req);
    if (type == "suspend") {
        policy_.suspended();
        resume_timer_.cancel();
        spdlog::info("device_suspend source=reader");
        co_return req.ok();
    }
    if (type == "network_up" || type == "network_down") {
        set_network(type == "network_up" ? network_state::up : network_state::down, "reader");
        co_return std::move(req.ok().set("network", to_string(policy_.network())));
    }
    if (type == "wifi_answer") {
        const rapidjson::Value* enable = req.field("enable");
        if (!enable)
            co_return req.error(error_code::invalid_field, "\"enable\" is required", "enable");
        if (!enable->IsBool())
            co_return req.error(error_code::invalid_field, "\"enable\" must be true or false",
                                "enable");
        // Enabling WiFi shows up as network-up; a refusal keeps the queue and ends the prompt.
        spdlog::info("wifi_answer enable={}", enable->GetBool());
        co_return req.ok();
    }
    co_return req.error(error_code::unknown_type, "unknown request type \"" + type + "\"", "type");
}

ipc::message app::storage_failure(const ipc::request& req, const boost::system::error_code& ec) {
    spdlog::error("storage_failed request={} error=\"{}\"", req.type(), ec.message());
    if (storage::is_storage_full(ec))
        return req.error(error_code::storage_full,
                         "the device's storage is full; nothing was queued. Free some space "
                         "and send again");
    return req.error(error_code::storage_error,
                     "the queue database failed (" + ec.message() + "); nothing was queued");
}

asio::awaitable<ipc::message> app::on_session_end(const ipc::request& req) {
    auto parsed = parse_session_end(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(error_code::invalid_field, bad->message, bad->field);
    auto& session = std::get<storage::session_record>(parsed);
    if (session.duration_seconds < settings_.min_session_seconds) {
        if (session.file_path) {
            // A named argument: GCC 12 destroys braced temporaries in a co_await twice.
            storage::ingest_item seen = storage::book_sighting{
                *session.file_path, session.book_hash, session.book_id, session.book_title};
            co_await ingest_.submit(std::move(seen));
        }
        co_return std::move(req.ok().set("queued", false).set("reason", "too_short"));
    }
    storage::ingest_item item = std::move(session);
    auto outcome = co_await ingest_.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    spdlog::info("session_queued queue_id={} duplicate={}", outcome->queue_id, outcome->duplicate);
    if (!outcome->duplicate)
        apply(policy_.session_queued());
    co_return std::move(req.ok()
                            .set("queued", true)
                            .set("queue_id", outcome->queue_id)
                            .set("duplicate", outcome->duplicate));
}

asio::awaitable<ipc::message> app::on_book_deleted(const ipc::request& req) {
    auto parsed = parse_book_deleted(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(error_code::invalid_field, bad->message, bad->field);
    if (settings_.deletion == config::deletion_mode::off)
        co_return std::move(req.ok().set("queued", false).set("reason", "deletion_mode_off"));
    storage::ingest_item item = std::move(std::get<storage::deletion_record>(parsed));
    auto outcome = co_await ingest_.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    spdlog::info("deletion_queued queue_id={} duplicate={}", outcome->queue_id, outcome->duplicate);
    co_return std::move(req.ok()
                            .set("queued", true)
                            .set("queue_id", outcome->queue_id)
                            .set("duplicate", outcome->duplicate));
}

asio::awaitable<ipc::message> app::on_book_opened(const ipc::request& req) {
    auto parsed = parse_book_opened(req.body());
    if (auto* bad = std::get_if<field_error>(&parsed))
        co_return req.error(error_code::invalid_field, bad->message, bad->field);
    storage::ingest_item item = std::move(std::get<storage::book_sighting>(parsed));
    auto outcome = co_await ingest_.submit(std::move(item));
    if (!outcome)
        co_return storage_failure(req, outcome.error());
    co_return req.ok();
}

asio::awaitable<ipc::message> app::on_sync_now(const ipc::request& req) {
    bool bad = false;
    bool wait = flag(req, "wait", bad).value_or(true);
    if (bad)
        co_return req.error(error_code::invalid_field, "\"wait\" must be true or false", "wait");
    bool was_running = policy_.sync_running();
    std::uint64_t finished_before = syncs_finished_;
    auto d = policy_.manual_sync();
    apply(d);
    ipc::message reply = req.ok();
    // Network down: no request is sent for this trigger (the reader was asked for WiFi), and
    // no run of its own is coming, even while another sync still runs.
    if (!d.start_sync && (!was_running || policy_.network() == network_state::down))
        co_return network_down_reply(db_, std::move(reply.set("started", false)));
    reply.set("started", true);
    if (!wait)
        co_return reply;
    // A sync already running may have missed what was queued before this request: the one
    // that covers this request is the next to finish after it.
    std::uint64_t target = finished_before + (was_running ? 2 : 1);
    while (syncs_finished_ < target && !shutting_down_) {
        co_await sync_done_.async_wait(asio::as_tuple(asio::use_awaitable));
        // The run after the current one became a wait for the network (it went down
        // meanwhile): answer as if this request had come in with the network down.
        if (syncs_finished_ < target && !policy_.sync_running() && !shutting_down_)
            co_return network_down_reply(db_, std::move(reply));
    }
    if (last_sync_)
        reply.set("result", to_json(*last_sync_, reply.allocator()));
    co_return reply;
}

ipc::message app::on_status(const ipc::request& req) {
    auto counts = db_.counts();
    if (!counts)
        return storage_failure(req, counts.error());
    ipc::message reply = req.ok();
    auto& a = reply.allocator();
    reply.set("pending_sessions", counts->pending_sessions)
        .set("pending_deletions", counts->pending_deletions)
        .set("unresolved_sessions", counts->unresolved_sessions)
        .set("historical_sessions", counts->historical_sessions)
        .set("network", to_string(policy_.network()))
        .set("sync", policy_.sync_running()                                    ? "running"
                     : policy_.resume_armed() || policy_.waiting_for_network() ? "scheduled"
                                                                               : "idle")
        .set("waiting_for_network", policy_.waiting_for_network());
    if (policy_.resume_armed()) {
        auto left = resume_timer_.expiry() - asio::steady_timer::clock_type::now();
        double seconds = std::chrono::duration<double>(left).count();
        reply.set("next_sync_in_seconds", seconds > 0 ? seconds : 0.0);
    } else {
        reply.set("next_sync_in_seconds", nullptr);
    }
    if (last_sync_) {
        rapidjson::Value last(rapidjson::kObjectType);
        last.AddMember("time", rapidjson::Value(last_sync_->finished_at.c_str(), a), a);
        last.AddMember("result", to_json(*last_sync_, a), a);
        reply.set("last_sync", std::move(last));
    } else {
        reply.set("last_sync", nullptr);
    }
    add_settings(reply);
    reply.set("version", booklore::version);
    return reply;
}

void app::add_settings(ipc::message& reply) {
    auto& a = reply.allocator();
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("manual_sync_only", policy_.manual_only(), a);
    s.AddMember("ask_before_enabling_wifi", settings_.ask_before_enabling_wifi, a);
    s.AddMember("server_url", rapidjson::Value(settings_.server_url.c_str(), a), a);
    s.AddMember("deletion_mode", rapidjson::StringRef(config::to_string(settings_.deletion)), a);
    s.AddMember("batch_size", settings_.batch_size, a);
    s.AddMember("resume_sync_delay_seconds", settings_.resume_sync_delay_seconds, a);
    s.AddMember("min_session_seconds", settings_.min_session_seconds, a);
    reply.set("settings", std::move(s));
}

ipc::message app::on_list_pending(const ipc::request& req) {
    std::int64_t limit = default_list_limit;
    if (const rapidjson::Value* v = req.field("limit")) {
        if (!v->IsInt64() || v->GetInt64() < 1 || v->GetInt64() > max_list_limit)
            return req.error(error_code::invalid_field,
                             "\"limit\" must be a whole number from 1 to 10000", "limit");
        limit = v->GetInt64();
    }
    auto sessions = db_.list_sessions(limit);
    if (!sessions)
        return storage_failure(req, sessions.error());
    auto deletions = db_.list_deletions(limit);
    if (!deletions)
        return storage_failure(req, deletions.error());
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
    return reply;
}

ipc::message app::on_clear_pending(const ipc::request& req) {
    const rapidjson::Value* confirm = req.field("confirm");
    if (confirm && !confirm->IsBool())
        return req.error(error_code::invalid_field, "\"confirm\" must be true or false", "confirm");
    if (!confirm || !confirm->GetBool())
        return req.error(error_code::confirmation_required,
                         "clearing deletes every pending session for good; send "
                         "\"confirm\":true to do it",
                         "confirm");
    auto cleared = db_.clear_sessions();
    if (!cleared)
        return storage_failure(req, cleared.error());
    spdlog::warn("pending_cleared sessions={}", *cleared);
    return std::move(req.ok().set("cleared", *cleared));
}

ipc::message app::on_set_settings(const ipc::request& req) {
    for (auto it = req.body().MemberBegin(); it != req.body().MemberEnd(); ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        if (key != "type" && key != "id" && key != "manual_sync_only" &&
            key != "ask_before_enabling_wifi")
            return req.error(error_code::invalid_field,
                             "\"" + std::string(key) +
                                 "\" cannot be changed here (manual_sync_only, "
                                 "ask_before_enabling_wifi)",
                             std::string(key));
    }
    bool bad_manual = false, bad_ask = false;
    auto manual = flag(req, "manual_sync_only", bad_manual);
    auto ask = flag(req, "ask_before_enabling_wifi", bad_ask);
    if (bad_manual || bad_ask) {
        const char* field = bad_manual ? "manual_sync_only" : "ask_before_enabling_wifi";
        return req.error(error_code::invalid_field,
                         std::string("\"") + field + "\" must be true or false", field);
    }
    if (manual) {
        if (auto r = db_.put_setting("manual_sync_only", *manual ? "true" : "false"); !r)
            return storage_failure(req, r.error());
        policy_.set_manual_only(*manual);
        if (*manual) {
            policy_.suspended();
            resume_timer_.cancel();
        }
    }
    if (ask) {
        if (auto r = db_.put_setting("ask_before_enabling_wifi", *ask ? "true" : "false"); !r)
            return storage_failure(req, r.error());
        settings_.ask_before_enabling_wifi = *ask;
    }
    spdlog::info("settings_changed manual_sync_only={} ask_before_enabling_wifi={}",
                 policy_.manual_only(), settings_.ask_before_enabling_wifi);
    ipc::message reply = req.ok();
    add_settings(reply);
    return reply;
}

ipc::message app::on_resume(const ipc::request& req) {
    device_resumed("reader");
    ipc::message reply = req.ok();
    if (policy_.resume_armed())
        reply.set("sync_in_seconds", settings_.resume_sync_delay_seconds);
    else
        reply.set("sync_in_seconds", nullptr);
    return reply;
}

}  // namespace booklore::syncd
