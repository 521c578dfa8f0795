#include "config/settings.hpp"

#include "config/md5.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <string_view>

namespace booklore::config {
namespace {

using json = rapidjson::Value;

constexpr std::array known_keys = {
    "server_url",
    "username",
    "password",
    "password_md5",
    "booklore_username",
    "booklore_password",
    "database",
    "socket",
    "socket_group",
    "manual_sync_only",
    "ask_before_enabling_wifi",
    "resume_sync_delay_seconds",
    "batch_size",
    "request_timeout_seconds",
    "ca_file",
    "deletion_mode",
    "shelf_id",
    "min_session_seconds",
    "log_file",
    "log_level",
    "max_connections",
    "idle_timeout_seconds",
};

constexpr std::array log_levels = {"trace", "debug", "info", "warn", "error", "off"};

/// Reads typed values out of the top-level object, naming the key in every error.
class reader {
public:
    reader(const json& root, std::string file) : root_(root), file_(std::move(file)) {}

    [[noreturn]] void fail(std::string_view key, const std::string& problem) const {
        throw config_error(file_, std::string(key), problem);
    }

    const json* find(const char* key) const {
        auto it = root_.FindMember(key);
        return it == root_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
    }

    std::optional<std::string> text(const char* key) const {
        const json* v = find(key);
        if (!v)
            return std::nullopt;
        if (!v->IsString())
            fail(key, "must be a string");
        return std::string(v->GetString(), v->GetStringLength());
    }

    std::string required_text(const char* key) const {
        auto v = text(key);
        if (!v || v->empty())
            fail(key, "is required and must be a non-empty string");
        return *v;
    }

    void flag(const char* key, bool& out) const {
        if (const json* v = find(key)) {
            if (!v->IsBool())
                fail(key, "must be true or false");
            out = v->GetBool();
        }
    }

    void number(const char* key, double& out, double min, double max) const {
        if (const json* v = find(key)) {
            if (!v->IsNumber())
                fail(key, "must be a number");
            double d = v->GetDouble();
            if (!(d >= min && d <= max))
                fail(key, range_message(min, max));
            out = d;
        }
    }

    template <typename Int>
    void integer(const char* key, Int& out, std::int64_t min, std::int64_t max) const {
        if (const json* v = find(key)) {
            if (!v->IsInt64())
                fail(key, "must be a whole number");
            std::int64_t i = v->GetInt64();
            if (i < min || i > max)
                fail(key, range_message(static_cast<double>(min), static_cast<double>(max)));
            out = static_cast<Int>(i);
        }
    }

private:
    static std::string range_message(double min, double max) {
        std::ostringstream s;
        s << "must be between " << min << " and " << max;
        return s.str();
    }

    const json& root_;
    std::string file_;
};

bool is_lower_hex_md5(std::string_view s) {
    if (s.size() != 32)
        return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return true;
}

std::string lowercase(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

/// Reads the server keys that are present onto `s` (absent ones keep their value; an empty
/// string means "not set"). The file and `set_settings` share this one reading.
void read_server_keys(const reader& r, settings& s) {
    if (auto url = r.text("server_url")) {
        if (!url->empty() &&
            (!(url->starts_with("http://") || url->starts_with("https://")) ||
             url->find_first_not_of('/', url->find("//") + 2) == std::string::npos))
            r.fail("server_url", "must be an http:// or https:// URL with a host");
        s.server_url = *url;
    }
    if (auto user = r.text("username"))
        s.username = *user;
    auto password = r.text("password");
    auto password_md5 = r.text("password_md5");
    if (password && password_md5)
        r.fail("password_md5", "cannot be given together with \"password\"; keep one");
    if (password_md5 && !password_md5->empty() && !is_lower_hex_md5(*password_md5))
        r.fail("password_md5", "must be 32 hexadecimal characters");
    if (password)
        s.password_md5 = password->empty() ? "" : md5_hex(*password);
    else if (password_md5)
        s.password_md5 = lowercase(*password_md5);
    auto set_or_clear = [](std::optional<std::string> value, std::optional<std::string>& out) {
        if (value)
            out = value->empty() ? std::nullopt : std::move(value);
    };
    set_or_clear(r.text("booklore_username"), s.booklore_username);
    set_or_clear(r.text("booklore_password"), s.booklore_password);
    if (auto ca = r.text("ca_file"))
        s.ca_file = ca->empty() ? std::nullopt : std::optional<std::filesystem::path>(*ca);
    if (auto mode = r.text("deletion_mode")) {
        if (*mode == "delete")
            s.deletion = deletion_mode::remove;
        else if (*mode == "unshelve")
            s.deletion = deletion_mode::unshelve;
        else if (*mode == "off")
            s.deletion = deletion_mode::off;
        else
            r.fail("deletion_mode", "must be \"delete\", \"unshelve\" or \"off\"");
    }
    if (const json* shelf = r.find("shelf_id")) {
        if (shelf->IsString() && shelf->GetStringLength() == 0) {
            s.shelf_id.reset();
        } else {
            std::int64_t id = 0;
            r.integer("shelf_id", id, 1, INT64_MAX);
            s.shelf_id = id;
        }
    }
}

/// The rules that join several server keys, checked on the settings as a whole.
void check_server_rules(const reader& r, const settings& s) {
    if (s.booklore_username.has_value() != s.booklore_password.has_value())
        r.fail(s.booklore_username ? "booklore_password" : "booklore_username",
               "is needed too: the BookLore account takes a username and a password");
    if (s.deletion == deletion_mode::unshelve) {
        if (!s.shelf_id)
            r.fail("shelf_id", "is required when \"deletion_mode\" is \"unshelve\"");
        if (!s.has_booklore_account())
            r.fail("booklore_username",
                   "and \"booklore_password\" are required when \"deletion_mode\" is \"unshelve\"");
    }
}

}  // namespace

config_error::config_error(std::string file, std::string key, const std::string& problem)
    : std::runtime_error(file + ": " + (key.empty() ? problem : "\"" + key + "\" " + problem)),
      key_(std::move(key)) {}

const char* to_string(deletion_mode mode) {
    switch (mode) {
        case deletion_mode::remove:
            return "delete";
        case deletion_mode::unshelve:
            return "unshelve";
        case deletion_mode::off:
            break;
    }
    return "off";
}

settings parse(const std::string& text, const std::string& file) {
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    if (doc.HasParseError())
        throw config_error(file, "",
                           std::string("is not valid JSON: ") +
                               rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
                               std::to_string(doc.GetErrorOffset()));
    if (!doc.IsObject())
        throw config_error(file, "", "must hold one JSON object");

    reader r(doc, file);
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        for (auto earlier = doc.MemberBegin(); earlier != it; ++earlier)
            if (earlier->name == it->name)
                r.fail(key, "appears twice; keep one");
        bool known = false;
        for (const char* k : known_keys)
            known = known || key == k;
        if (!known)
            r.fail(key, "is not a known setting (check its spelling)");
    }

    settings s;
    read_server_keys(r, s);
    s.database = r.required_text("database");
    s.socket = r.required_text("socket");
    if (s.socket.native().size() >= 108)
        r.fail("socket", "is too long for a Unix socket path (at most 107 bytes)");
    s.socket_group = r.text("socket_group");

    r.flag("manual_sync_only", s.manual_sync_only);
    r.flag("ask_before_enabling_wifi", s.ask_before_enabling_wifi);
    r.number("resume_sync_delay_seconds", s.resume_sync_delay_seconds, 0, 86400);
    r.integer("batch_size", s.batch_size, 1, 1000);
    r.number("request_timeout_seconds", s.request_timeout_seconds, 0.1, 600);
    r.integer("min_session_seconds", s.min_session_seconds, 0, 86400);
    if (auto log = r.text("log_file"))
        s.log_file = *log;
    if (auto level = r.text("log_level")) {
        bool ok = false;
        for (const char* l : log_levels)
            ok = ok || *level == l;
        if (!ok)
            r.fail("log_level", "must be one of trace, debug, info, warn, error, off");
        s.log_level = *level;
    }
    r.integer("max_connections", s.max_connections, 1, 4096);
    r.number("idle_timeout_seconds", s.idle_timeout_seconds, 1, 86400);
    check_server_rules(r, s);
    return s;
}

void apply_server_keys(const rapidjson::Value& values, settings& s, const std::string& source) {
    reader r(values, source);
    for (auto it = values.MemberBegin(); it != values.MemberEnd(); ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        if (std::find(server_keys.begin(), server_keys.end(), key) == server_keys.end())
            r.fail(key, "is not a server setting");
    }
    read_server_keys(r, s);
    check_server_rules(r, s);
}

settings load_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw config_error(file.string(), "", "cannot be read (does it exist, may we read it?)");
    std::ostringstream text;
    text << in.rdbuf();
    settings s = parse(text.str(), file.string());
    check_permissions(file, s);
    return s;
}

void check_permissions(const std::filesystem::path& file, const settings& s) {
    bool holds_secret = !s.password_md5.empty() || s.booklore_password.has_value();
    struct stat st {};
    if (!holds_secret || ::stat(file.c_str(), &st) != 0)
        return;
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        throw config_error(
            file.string(), "",
            "holds a password but group or others may read it; run: chmod 600 " + file.string());
}

}  // namespace booklore::config
