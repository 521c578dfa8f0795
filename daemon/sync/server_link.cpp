#include "daemon/sync/server_link.hpp"

#include "daemon/sync/booklore_api.hpp"

#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <tuple>

namespace booklore::syncd::sync {
namespace {

using boost::beast::http::verb;

/// Stored settings keys (the settings table); neither holds a secret.
constexpr const char* login_refused_key = "sync.login_refused_for";
constexpr const char* server_auth_key = "sync.server_auth";

/// A token is renewed this long before the expiry it claims, so that it never dies mid-sync.
constexpr std::int64_t token_margin_seconds = 60;

net::client_options client_options_for(const config::settings& s) {
    net::client_options o;
    o.server_url = s.server_url;
    o.ca_file = s.ca_file;
    o.timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(s.request_timeout_seconds * 1000));
    return o;
}

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

const char* name_of(credentials c) {
    return c == credentials::bearer ? "bearer" : "koreader";
}

}  // namespace

server_link::server_link(boost::asio::any_io_executor executor, const config::settings& settings,
                         storage::database& db)
    : settings_(settings), db_(db), client_(executor, client_options_for(settings)) {}

namespace {

/// Identifies the settings a refusal was for, without keeping the password itself.
std::string account_fingerprint(const config::settings& settings) {
    std::string material = settings.server_url + '\0' + settings.booklore_username.value_or("") +
                           '\0' + settings.booklore_password.value_or("");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(material.data(), material.size(), digest, &size, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < size; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xf]);
    }
    return out;
}

}  // namespace

bool login_refusal_remembered(const config::settings& settings, storage::database& db) {
    auto stored = db.get_setting(login_refused_key);
    return stored && *stored && **stored == account_fingerprint(settings);
}

bool server_link::login_refused_remembered() {
    return login_refusal_remembered(settings_, db_);
}

void server_link::begin_run(bool manual, server_view& view) {
    manual_ = manual;
    view.has_booklore_account = settings_.has_booklore_account();
    view.list_auth = view.has_booklore_account ? credentials::bearer : credentials::koreader;
    remembered_ = {view.batch_usable, view.batch_auth, view.single_auth};
    auto stored = db_.get_setting(server_auth_key);
    if (!stored || !*stored)
        return;
    rapidjson::Document d;
    d.Parse((*stored)->c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("server_url") ||
        !d["server_url"].IsString() || d["server_url"].GetString() != settings_.server_url ||
        !view.has_booklore_account)
        return;  // learned about another server
    auto read = [&](const char* key, credentials& into) {
        if (d.HasMember(key) && d[key].IsString() && std::string(d[key].GetString()) == "bearer")
            into = credentials::bearer;
    };
    read("batch", view.batch_auth);
    read("single", view.single_auth);
    view.batch_usable = !(d.HasMember("batch") && d["batch"] == "none");
    remembered_ = {view.batch_usable, view.batch_auth, view.single_auth};
}

void server_link::end_run(const server_view& view) {
    if (remembered_ == std::tuple{view.batch_usable, view.batch_auth, view.single_auth})
        return;
    std::string json = std::string(R"({"server_url":)") + '"';
    for (char c : settings_.server_url) {
        if (c == '"' || c == '\\')
            json.push_back('\\');
        json.push_back(c);
    }
    json += std::string(R"(","batch":")") +
            (view.batch_usable ? name_of(view.batch_auth) : "none") + R"(","single":")" +
            name_of(view.single_auth) + "\"}";
    if (auto stored = db_.put_setting(server_auth_key, json); !stored)
        spdlog::warn("server_auth_not_stored error=\"{}\"", stored.error().message());
    else
        spdlog::info("server_learned batch={} single={}",
                     view.batch_usable ? name_of(view.batch_auth) : "none",
                     name_of(view.single_auth));
}

boost::asio::awaitable<std::optional<outcome>> server_link::log_in() {
    if (!manual_ && login_refused_remembered())
        co_return outcome{outcome_kind::login_refused, {}, "refused before, not tried again"};
    token_.reset();
    net::request login{
        verb::post,
        std::string(booklore_api::login_path),
        {},
        booklore_api::login_body(*settings_.booklore_username, *settings_.booklore_password)};
    auto sent = co_await client_.send(std::move(login));
    if (auto* f = std::get_if<net::failure>(&sent))
        co_return transport_failure(false, f->detail);
    auto& r = std::get<net::response>(sent);
    auto answer = classify_login({r.status, r.content_type, r.body});
    switch (answer.what) {
        case login_answer::kind::token:
            token_ = token{std::move(answer.access_token), answer.expires_at};
            if (login_refused_remembered())
                (void)db_.put_setting(login_refused_key, "");
            spdlog::info("bearer_token_obtained");
            co_return std::nullopt;
        case login_answer::kind::refused:
            spdlog::warn("login_refused answer=\"{}\"", answer.detail);
            if (auto stored = db_.put_setting(login_refused_key, account_fingerprint(settings_));
                !stored)
                spdlog::warn("login_refusal_not_stored error=\"{}\"", stored.error().message());
            co_return outcome{outcome_kind::login_refused, {}, answer.detail};
        case login_answer::kind::rate_limited:
            spdlog::warn("login_rate_limited answer=\"{}\"", answer.detail);
            co_return outcome{outcome_kind::login_rate_limited, {}, answer.detail};
        case login_answer::kind::server_problem:
            break;
    }
    co_return outcome{outcome_kind::server_problem, {}, answer.detail};
}

boost::asio::awaitable<server_link::reply> server_link::send(net::request req, credentials how) {
    if (how == credentials::bearer) {
        if (!settings_.has_booklore_account())
            co_return reply{std::nullopt,
                            {outcome_kind::needs_bearer, {}, "no BookLore account is set"}};
        bool fresh = token_ && (!token_->expires_at ||
                                *token_->expires_at - token_margin_seconds > now_seconds());
        if (!fresh)
            if (auto failed = co_await log_in())
                co_return reply{std::nullopt, std::move(*failed)};
        req.headers.emplace_back("Authorization", "Bearer " + token_->access);
    } else {
        req.headers.emplace_back("x-auth-user", settings_.username);
        req.headers.emplace_back("x-auth-key", settings_.password_md5);
    }
    const std::string target = req.target;
    auto sent = co_await client_.send(std::move(req));
    if (auto* f = std::get_if<net::failure>(&sent)) {
        spdlog::warn("request_failed target={} reached_server={} error=\"{}\"", target,
                     !f->before_request_sent, f->detail);
        co_return reply{std::nullopt, transport_failure(!f->before_request_sent, f->detail)};
    }
    auto& r = std::get<net::response>(sent);
    spdlog::debug("request_done target={} status={} auth={}", target, r.status, name_of(how));
    co_return reply{std::move(r), {}};
}

}  // namespace booklore::syncd::sync
