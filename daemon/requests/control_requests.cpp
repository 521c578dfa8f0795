// The requests that read or steer the daemon: sync, status, settings, device and network hints.
#include "daemon/requests/handlers.hpp"

#include <spdlog/spdlog.h>

#include "booklore/version.hpp"

namespace booklore::syncd::handlers {

std::optional<ipc::message> require_bool(const ipc::request& req, const char* name,
                                         std::optional<bool>& out) {
    const rapidjson::Value* v = req.field(name);
    if (!v)
        return std::nullopt;
    if (!v->IsBool())
        return req.error(ipc::error_kind::invalid_field,
                         std::string("\"") + name + "\" must be true or false", name);
    out = v->GetBool();
    return std::nullopt;
}

awaitable<ipc::message> sync_now(request_context& ctx, const ipc::request& req,
                                 ipc::client_context&) {
    std::optional<bool> wait;
    if (auto bad = require_bool(req, "wait", wait))
        co_return std::move(*bad);
    co_return co_await ctx.daemon.sync_now(req, wait.value_or(true));
}

awaitable<ipc::message> check_server(request_context& ctx, const ipc::request& req,
                                     ipc::client_context&) {
    co_return co_await ctx.daemon.check_server(req);
}

awaitable<ipc::message> status(request_context& ctx, const ipc::request& req,
                               ipc::client_context&) {
    auto counts = ctx.db.counts();
    if (!counts)
        co_return storage_failure(req, counts.error());
    ipc::message reply = req.ok();
    reply.set("pending_sessions", counts->pending_sessions)
        .set("pending_deletions", counts->pending_deletions)
        .set("unresolved_sessions", counts->unresolved_sessions)
        .set("historical_sessions", counts->historical_sessions);
    ctx.daemon.describe_sync(reply);
    reply.set("settings", ctx.settings.to_json(reply.allocator()));
    reply.set("version", booklore::version);
    co_return reply;
}

awaitable<ipc::message> set_settings(request_context& ctx, const ipc::request& req,
                                     ipc::client_context&) {
    auto outcome = ctx.settings.apply(req.body());
    if (auto* refused = std::get_if<live_settings::refusal>(&outcome))
        co_return req.error(ipc::error_kind::invalid_field, refused->message, refused->field);
    if (auto* failed = std::get_if<boost::system::error_code>(&outcome))
        co_return storage_failure(req, *failed);
    ipc::message reply = req.ok();
    reply.set("settings", ctx.settings.to_json(reply.allocator()));
    co_return reply;
}

awaitable<ipc::message> subscribe(request_context&, const ipc::request& req,
                                  ipc::client_context& client) {
    client.subscribed = true;
    co_return std::move(req.ok().set("subscribed", true));
}

awaitable<ipc::message> resume(request_context& ctx, const ipc::request& req,
                               ipc::client_context&) {
    ipc::message reply = req.ok();
    reply.set("sync_in_seconds", ctx.daemon.device_resumed());
    co_return reply;
}

awaitable<ipc::message> suspend(request_context& ctx, const ipc::request& req,
                                ipc::client_context&) {
    ctx.daemon.device_suspended();
    co_return req.ok();
}

awaitable<ipc::message> network_up(request_context& ctx, const ipc::request& req,
                                   ipc::client_context&) {
    co_return std::move(
        req.ok().set("network", to_string(ctx.daemon.reader_network(network_state::up))));
}

awaitable<ipc::message> network_down(request_context& ctx, const ipc::request& req,
                                     ipc::client_context&) {
    co_return std::move(
        req.ok().set("network", to_string(ctx.daemon.reader_network(network_state::down))));
}

awaitable<ipc::message> wifi_answer(request_context&, const ipc::request& req,
                                    ipc::client_context&) {
    if (!req.field("enable"))
        co_return req.error(ipc::error_kind::invalid_field, "\"enable\" is required", "enable");
    std::optional<bool> enable;
    if (auto bad = require_bool(req, "enable", enable))
        co_return std::move(*bad);
    // Enabling WiFi shows up as network-up; a refusal keeps the queue and ends the prompt.
    spdlog::info("wifi_answer enable={}", *enable);
    co_return req.ok();
}

}  // namespace booklore::syncd::handlers
