#include "daemon/sync/server_check.hpp"

#include "daemon/sync/booklore_api.hpp"
#include "daemon/sync/server_answer.hpp"
#include "daemon/sync/server_link.hpp"
#include "daemon/sync/upload_plan.hpp"

#include <spdlog/spdlog.h>

namespace booklore::syncd {
namespace asio = boost::asio;
namespace api = booklore_api;
using boost::beast::http::verb;
using sync::credentials;

namespace {

sync::http_answer answer_of(const net::response& r) {
    return {r.status, r.content_type, r.body};
}

bool is_2xx(unsigned status) {
    return status >= 200 && status < 300;
}

/// The application answered (JSON with a `message`, e.g. "Book not found"), not the security
/// layer or a page.
bool app_answered(const net::response& r) {
    return r.is_json() && r.body.find("\"message\"") != std::string::npos;
}

}  // namespace

asio::awaitable<server_check> check_server(asio::any_io_executor executor,
                                           const config::settings& settings,
                                           storage::database& db) {
    server_check c;
    if (settings.server_url.empty()) {
        c.detail = "no server is configured";
        co_return c;
    }
    sync::server_link link(executor, settings, db);
    sync::server_view view;
    link.begin_run(true, view);
    const bool ko = !settings.username.empty();
    const bool bearer = settings.has_booklore_account();
    // Requests are named locals: GCC 12 destroys temporaries in a co_await expression twice.
    auto get = [](std::string target) {
        return net::request{verb::get, std::move(target), {}, std::nullopt};
    };
    auto note = [&](const sync::server_link::reply& r) {
        if (r.response)
            c.reachable = true;
        else if (c.detail.empty())
            c.detail = r.failure.detail;
        return r.response.has_value();
    };

    if (ko) {
        net::request req = get(std::string(api::koreader_auth_path));
        auto r = co_await link.send(std::move(req), credentials::koreader);
        if (!note(r))
            co_return c;
        // The one probe that tells BookLore from a web page at a wrong base path.
        c.api_found = sync::answers_like_booklore(answer_of(*r.response));
        if (!c.api_found) {
            c.detail = sync::describe(answer_of(*r.response));
            co_return c;
        }
        if (r.response->status == 401 || r.response->status == 403)
            c.koreader_account = "refused";
        else if (is_2xx(r.response->status) && r.response->is_json())
            c.koreader_account = "ok";
        if (c.detail.empty() && c.koreader_account != "ok")
            c.detail = sync::describe(answer_of(*r.response));
    }
    // Book 0 does not exist: "Book not found" says the list can be read with these credentials.
    const credentials list_how = bearer ? credentials::bearer : credentials::koreader;
    net::request list_req = get(api::sessions_of_book_path(0, 0, 1));
    auto list = co_await link.send(std::move(list_req), list_how);
    if (!list.response) {
        using enum sync::outcome_kind;
        if (list.failure.kind == login_refused || list.failure.kind == login_rate_limited) {
            c.booklore_account = "refused";
            c.detail = list.failure.detail;
        } else if (!note(list) || !ko) {
            co_return c;  // without KOReader headers, a login that fails is all there is
        }
    } else {
        note(list);
        if (!ko)
            c.api_found = sync::answers_like_booklore(answer_of(*list.response));
        if (bearer)
            c.booklore_account = "ok";
        c.session_list = app_answered(*list.response);
    }
    // An empty batch is refused by validation (400) where the endpoint exists; nothing stored.
    for (credentials how : {credentials::koreader, credentials::bearer}) {
        if ((how == credentials::koreader && !ko) ||
            (how == credentials::bearer && c.booklore_account != "ok"))
            continue;
        net::request req{verb::post,
                         std::string(api::batch_path),
                         {},
                         std::string(R"({"bookId":0,"bookType":"EPUB","sessions":[]})")};
        auto r = co_await link.send(std::move(req), how);
        if (!note(r))
            co_return c;
        if (r.response->status == 401 || r.response->status == 403)
            continue;
        c.batch_endpoint = r.response->status == 400 && app_answered(*r.response);
        break;
    }
    if (ko) {
        net::request req = get(api::by_hash_path("00000000000000000000000000000000"));
        auto r = co_await link.send(std::move(req), credentials::koreader);
        if (!note(r))
            co_return c;
        auto found = sync::classify_hash_lookup(answer_of(*r.response));
        c.hash_lookup = found.what == sync::hash_lookup::kind::found ||
                        found.what == sync::hash_lookup::kind::not_found;
    }
    co_await link.shutdown();
    spdlog::info(
        "server_checked reachable={} api={} koreader={} booklore={} batch={} hash={} list={}",
        c.reachable, c.api_found, c.koreader_account, c.booklore_account, c.batch_endpoint,
        c.hash_lookup, c.session_list);
    co_return c;
}

std::string advice(const server_check& c, const config::settings& settings) {
    if (settings.server_url.empty())
        return "No server is configured: set server_url.";
    if (!c.reachable)
        return "Cannot reach the server (" + c.detail + "): check server_url and the network.";
    if (!c.api_found) {
        std::string text = sync::server_problem_text(c.detail) + ".";
        text[0] = 'T';
        return text;
    }
    std::string out;
    auto add = [&](const std::string& text) { out += (out.empty() ? "" : " ") + text; };
    if (c.koreader_account == "refused")
        add("The server refused the KOReader account: check username and password (in "
            "BookLore under Settings, Devices, KOReader).");
    if (c.booklore_account == "refused")
        add("BookLore refused the login (" + c.detail +
            "): fix booklore_username or booklore_password; automatic syncs do not log in "
            "until then.");
    if (c.booklore_account == "not_set" && !c.batch_endpoint && !c.hash_lookup)
        add("This server takes sessions only from a BookLore account: set booklore_username "
            "and booklore_password.");
    if (!c.session_list && c.booklore_account != "refused")
        add("The daemon cannot read the server's list of sessions, so a session whose answer "
            "was lost may be stored twice; set booklore_username and booklore_password for "
            "exactly-once delivery.");
    if (!c.hash_lookup && c.koreader_account != "refused")
        add("The server cannot look books up by hash: books are matched by id or ISBN.");
    return out.empty() ? "Everything works." : out;
}

rapidjson::Value to_json(const server_check& c, const config::settings& settings,
                         rapidjson::Document::AllocatorType& a) {
    rapidjson::Value out(rapidjson::kObjectType);
    out.AddMember("reachable", c.reachable, a);
    out.AddMember("koreader_account", rapidjson::Value(c.koreader_account.c_str(), a), a);
    out.AddMember("booklore_account", rapidjson::Value(c.booklore_account.c_str(), a), a);
    out.AddMember("batch_endpoint", c.batch_endpoint, a);
    out.AddMember("hash_lookup", c.hash_lookup, a);
    out.AddMember("exactly_once", c.session_list, a);
    out.AddMember("message", rapidjson::Value(advice(c, settings).c_str(), a), a);
    return out;
}

}  // namespace booklore::syncd
