#include "daemon/ctl/render.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace booklore::ctl {
namespace {

using json = rapidjson::Value;

std::string text_of(const json& v) {
    if (v.IsString())
        return v.GetString();
    if (v.IsNull())
        return "-";
    if (v.IsBool())
        return v.GetBool() ? "yes" : "no";
    if (v.IsInt64())
        return std::to_string(v.GetInt64());
    if (v.IsNumber()) {
        char out[32];
        std::snprintf(out, sizeof out, "%.1f", v.GetDouble());
        return out;
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    v.Accept(writer);
    return buffer.GetString();
}

std::string field(const json& obj, const char* name) {
    if (!obj.IsObject())
        return "-";
    auto it = obj.FindMember(name);
    return it == obj.MemberEnd() ? "-" : text_of(it->value);
}

const json* member(const json& obj, const char* name) {
    if (!obj.IsObject())
        return nullptr;
    auto it = obj.FindMember(name);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string clip(std::string s, std::size_t width) {
    if (s.size() > width)
        s = s.substr(0, width - 1) + "~";
    return s;
}

}  // namespace

std::string render_sync_result(const json& r) {
    std::ostringstream out;
    out << "uploaded " << field(r, "sessions_uploaded") << " sessions, "
        << field(r, "sessions_failed") << " failed, " << field(r, "sessions_unresolved")
        << " waiting for their book on the server; deletions: " << field(r, "deletions_done")
        << " reported, " << field(r, "deletions_failed")
        << " failed; still queued: " << field(r, "pending_sessions") << " sessions, "
        << field(r, "pending_deletions") << " deletions; network " << field(r, "network");
    if (const json* error = member(r, "error"))
        out << "\nstopped: " << text_of(*error);
    return out.str();
}

std::string render_sync_reply(const json& r) {
    const json* result = member(r, "result");
    return result ? render_sync_result(*result) : std::string("sync started");
}

std::string render_import(const json& r) {
    if (!member(r, "imported"))
        return "import started: " + field(r, "total") + " sessions to check";
    return "imported " + field(r, "imported") + " sessions of " + field(r, "books") +
           " books; skipped " + field(r, "skipped") +
           " (shorter than min_session_seconds, already queued or uploaded, or without a "
           "book hash)";
}

std::string render_check(const json& r) {
    const json* s = member(r, "server");
    if (!s)
        return {};
    std::ostringstream out;
    for (const char* name : {"reachable", "koreader_account", "booklore_account", "batch_endpoint",
                             "hash_lookup", "exactly_once"})
        if (member(*s, name))
            out << "  " << name << ": " << field(*s, name) << "\n";
    out << field(*s, "message");
    return out.str();
}

std::string render_progress_bar(const json& e) {
    constexpr std::int64_t width = 30;
    const json* done = member(e, "done");
    const json* total = member(e, "total");
    std::int64_t d = done && done->IsInt64() ? done->GetInt64() : 0;
    std::int64_t t = total && total->IsInt64() ? total->GetInt64() : 0;
    std::int64_t filled = t > 0 ? std::clamp<std::int64_t>(d * width / t, 0, width) : width;
    return "[" + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(width - filled), '.') + "] " + std::to_string(d) +
           "/" + std::to_string(t) + " sessions";
}

std::string render_settings(const json& s) {
    std::ostringstream out;
    for (auto it = s.MemberBegin(); it != s.MemberEnd(); ++it)
        out << "  " << it->name.GetString() << ": " << text_of(it->value) << "\n";
    return out.str();
}

std::string render_status(const json& r) {
    std::ostringstream out;
    out << "booklore-syncd " << field(r, "version") << "\n"
        << "pending sessions:    " << field(r, "pending_sessions") << " ("
        << field(r, "unresolved_sessions") << " without a book id yet)\n"
        << "pending deletions:   " << field(r, "pending_deletions") << "\n"
        << "uploaded sessions:   " << field(r, "historical_sessions") << "\n"
        << "network:             " << field(r, "network") << "\n"
        << "sync:                " << field(r, "sync");
    if (const json* next = member(r, "next_sync_in_seconds"); next && next->IsNumber())
        out << " (next in " << text_of(*next) << " s)";
    out << "\n";
    const json* last = member(r, "last_sync");
    if (last && last->IsObject())
        out << "last sync:           " << field(*last, "time") << ": "
            << render_sync_result(*member(*last, "result")) << "\n";
    else
        out << "last sync:           never\n";
    if (const json* s = member(r, "settings"); s && s->IsObject())
        out << "settings:\n" << render_settings(*s);
    return out.str();
}

std::string render_pending(const json& r) {
    std::ostringstream out;
    const json* sessions = member(r, "sessions");
    const json* deletions = member(r, "deletions");
    std::size_t n = sessions && sessions->IsArray() ? sessions->Size() : 0;
    out << n << " pending session" << (n == 1 ? "" : "s") << "\n";
    if (n) {
        char line[256];
        std::snprintf(line, sizeof line, "%6s  %-30s %8s %9s %6s  %-20s  %s\n", "ID", "BOOK",
                      "BOOK ID", "DURATION", "TRIES", "QUEUED", "LAST ERROR");
        out << line;
        for (const auto& s : sessions->GetArray()) {
            std::string title = field(s, "title");
            // Without a title, the first 8 characters of the hash name the book.
            if (title == "-")
                title = field(s, "book_hash").substr(0, 8);
            std::snprintf(line, sizeof line, "%6s  %-30s %8s %8ss %6s  %-20s  %s\n",
                          field(s, "id").c_str(), clip(title, 30).c_str(),
                          field(s, "book_id").c_str(), field(s, "duration_seconds").c_str(),
                          field(s, "retry_count").c_str(), field(s, "created_at").c_str(),
                          clip(field(s, "last_error"), 60).c_str());
            out << line;
        }
    }
    std::size_t d = deletions && deletions->IsArray() ? deletions->Size() : 0;
    out << d << " pending deletion" << (d == 1 ? "" : "s") << "\n";
    if (d) {
        char line[512];
        std::snprintf(line, sizeof line, "%6s  %-40s %8s %6s  %-20s  %s\n", "ID", "FILE", "BOOK ID",
                      "TRIES", "QUEUED", "LAST ERROR");
        out << line;
        for (const auto& s : deletions->GetArray()) {
            std::snprintf(line, sizeof line, "%6s  %-40s %8s %6s  %-20s  %s\n",
                          field(s, "id").c_str(), clip(field(s, "file_path"), 40).c_str(),
                          field(s, "book_id").c_str(), field(s, "retry_count").c_str(),
                          field(s, "created_at").c_str(), clip(field(s, "last_error"), 60).c_str());
            out << line;
        }
    }
    return out.str();
}

std::string render_event(const json& e) {
    std::string name = field(e, "event");
    if (name == "sync_progress")
        return "sync progress: " + field(e, "done") + " of " + field(e, "total") + " sessions";
    if (name == "sync_finished") {
        const json* result = member(e, "result");
        return "sync finished: " + (result ? render_sync_result(*result) : std::string("-"));
    }
    if (name == "import_progress")
        return "import progress: " + field(e, "done") + " of " + field(e, "total") + " sessions";
    if (name == "wifi_needed")
        return "wifi needed (ask: " + field(e, "ask") + "): " + field(e, "message");
    return name == "sync_started" ? "sync started" : text_of(e);
}

std::string render_error(const json& reply) {
    const json* error = member(reply, "error");
    if (!error)
        return "the daemon refused the request";
    std::string out = field(*error, "message");
    if (member(*error, "field"))
        out += " (field " + field(*error, "field") + ")";
    return out + " [" + field(*error, "code") + "]";
}

}  // namespace booklore::ctl
