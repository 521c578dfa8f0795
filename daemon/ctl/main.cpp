// booklore-syncctl: the command-line client of booklore-syncd's socket.
#include "booklore/version.hpp"
#include "config/settings.hpp"
#include "daemon/ctl/options.hpp"
#include "daemon/ctl/render.hpp"
#include "daemon/ctl/settings_command.hpp"
#include "ipc/client.hpp"

#include <rapidjson/document.h>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using booklore::ctl::options;
using booklore::ctl::parse_on_off;
using booklore::ctl::usage_error;
using booklore::ipc::is_ok;
using booklore::ipc::parse_reply;

enum exit_code { exit_ok = 0, exit_refused = 1, exit_usage = 2, exit_unreachable = 3 };

constexpr const char* default_socket = "/run/booklore-sync/booklore-syncd.sock";
/// All but `sync`, `import-history` and `watch` are answered at once; a hung daemon is an error.
constexpr int reply_timeout_ms = 30000;

std::string usage_text() {
    return std::string(
               "Usage: booklore-syncctl [--socket PATH | --config FILE] [--json] COMMAND [ARGS]\n"
               "\n"
               "Commands:\n"
               "  status                      queue counts, network, sync state, last sync\n"
               "  pending [--limit N]         the queued sessions and deletions\n"
               "  sync [--no-wait]            sync now (with progress), then print a summary\n"
               "  clear-pending [--yes]       delete every pending session (asks first)\n"
               "  settings [--manual-sync-only on|off] [--ask-before-enabling-wifi on|off]\n"
               "           [--server-url URL] [--username U] [--password | --password-stdin]\n"
               "           [--booklore-username U] [--booklore-password |\n"
               "           --booklore-password-stdin] [--deletion-mode delete|unshelve|off]\n"
               "           [--shelf-id N] [--ca-file PATH]   (an empty value removes one)\n"
               "  send-session --hash H --start T --end T --duration S [--book-id N]\n"
               "               [--file PATH] [--title T] [--type T] [--start-progress P]\n"
               "               [--end-progress P] [--start-location L] [--end-location L]\n"
               "               [--event-id ID]\n"
               "  delete-book --file PATH [--hash H] [--book-id N] [--event-id ID]\n"
               "  resume | suspend | network-up | network-down\n"
               "  watch                       print sync events as they come\n"
               "  check-server                what works on the configured server, what to change\n"
               "  import-history PATH [--no-wait]  queue the past sessions of KOReader's\n"
               "                              statistics.sqlite3 (with progress)\n"
               "\n"
               "Times are YYYY-MM-DDTHH:MM:SSZ or epoch seconds. The socket comes from --socket,\n"
               "the \"socket\" key of --config, $BOOKLORE_SYNCD_SOCKET, or ") +
           default_socket +
           ".\nExit: 0 ok, 1 the daemon said no, 2 usage, 3 cannot reach the daemon.\n";
}

struct client {
    std::string socket_path;
    bool raw_json = false;

    /// Sends one request and prints its reply with `render`; the exit code follows `ok`.
    int exchange(const booklore::ipc::request_builder& req,
                 const std::function<std::string(const rapidjson::Value&)>& render,
                 int timeout_ms = reply_timeout_ms) {
        booklore::ipc::line_client conn(socket_path);
        conn.send(req.line());
        std::string line = conn.receive(timeout_ms);
        return print(line, render);
    }

    int print(const std::string& line,
              const std::function<std::string(const rapidjson::Value&)>& render) {
        auto reply = parse_reply(line);
        if (raw_json) {
            std::cout << line << "\n";
        } else if (!is_ok(reply)) {
            std::cerr << "booklore-syncctl: " << booklore::ctl::render_error(reply) << "\n";
        } else {
            std::string text = render(reply);
            if (!text.empty())
                std::cout << text << (text.back() == '\n' ? "" : "\n") << std::flush;
        }
        return is_ok(reply) ? exit_ok : exit_refused;
    }

    /// Sends `req` on a subscribed connection; on a terminal, `event` lines draw a progress bar
    /// until the reply comes, which `render` prints.
    int with_progress(const booklore::ipc::request_builder& req, bool wait, const char* event,
                      const std::function<std::string(const rapidjson::Value&)>& render) {
        booklore::ipc::line_client conn(socket_path);
        bool show_progress = wait && !raw_json && ::isatty(STDERR_FILENO);
        if (wait) {
            conn.send(R"({"type":"subscribe","id":"subscribe"})");
            conn.receive(reply_timeout_ms);
        }
        conn.send(req.line());
        for (;;) {
            std::string line = conn.receive(-1);
            auto msg = parse_reply(line);
            if (msg.HasMember("event")) {
                if (raw_json)
                    std::cout << line << "\n";
                else if (show_progress && std::string(msg["event"].GetString()) == event)
                    std::cerr << "\r" << booklore::ctl::render_progress_bar(msg);
                continue;
            }
            if (show_progress)
                std::cerr << "\n";
            return print(line, render);
        }
    }

    int watch() {
        booklore::ipc::line_client conn(socket_path);
        conn.send(R"({"type":"subscribe"})");
        if (int rc = print(
                conn.receive(reply_timeout_ms),
                [](const rapidjson::Value&) { return std::string("watching; Ctrl-C stops"); });
            rc != exit_ok)
            return rc;
        for (;;) {
            std::string line = conn.receive(-1);
            if (raw_json)
                std::cout << line << std::endl;
            else
                std::cout << booklore::ctl::render_event(parse_reply(line)) << std::endl;
        }
    }

    int clear_pending(bool yes) {
        if (!yes) {
            if (!::isatty(STDIN_FILENO))
                throw usage_error("clear-pending needs --yes when not run on a terminal");
            std::cout << "This permanently deletes all queued sessions. They will not be uploaded "
                         "to BookLore. Continue? [y/N] "
                      << std::flush;
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") {
                std::cout << "nothing cleared\n";
                return exit_refused;
            }
        }
        booklore::ipc::request_builder req("clear_pending");
        req.flag("confirm", true);
        return exchange(req, [](const rapidjson::Value& r) {
            return "cleared " + std::to_string(r["cleared"].GetInt64()) + " pending sessions";
        });
    }
};

std::string socket_from_config(const std::string& file) {
    std::ifstream in(file);
    if (!in)
        throw usage_error("cannot read " + file);
    std::stringstream text;
    text << in.rdbuf();
    try {
        return booklore::config::parse(text.str(), file).socket.string();
    } catch (const booklore::config::config_error& e) {
        throw usage_error(e.what());
    }
}

int run(int argc, char** argv) {
    client c;
    std::optional<std::string> socket, config_file;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << usage_text();
            return exit_ok;
        }
        if (a == "--version") {
            std::cout << "booklore-syncctl " << booklore::version << "\n";
            return exit_ok;
        }
        if (a == "--json")
            c.raw_json = true;
        else if (a == "--socket" && i + 1 < argc)
            socket = argv[++i];
        else if (a == "--config" && i + 1 < argc)
            config_file = argv[++i];
        else if (a.starts_with("-"))
            throw usage_error("unknown option \"" + a + "\"");
        else
            break;
    }
    if (i >= argc)
        throw usage_error("no command given");
    std::string command = argv[i];
    std::vector<std::string> args(argv + i + 1, argv + argc);
    if (socket && config_file)
        throw usage_error("give --socket or --config, not both");
    if (socket)
        c.socket_path = *socket;
    else if (config_file)
        c.socket_path = socket_from_config(*config_file);
    else if (const char* env = std::getenv("BOOKLORE_SYNCD_SOCKET"))
        c.socket_path = env;
    else
        c.socket_path = default_socket;

    auto render_nothing = [](const rapidjson::Value&) { return std::string(); };
    if (command == "status") {
        options(args, {}, {});
        return c.exchange(booklore::ipc::request_builder("status"), booklore::ctl::render_status);
    }
    if (command == "pending") {
        options o(args, {"--limit"}, {});
        booklore::ipc::request_builder req("list_pending");
        if (auto limit = o.get("--limit"))
            req.number_or_text("limit", *limit);
        return c.exchange(req, booklore::ctl::render_pending);
    }
    if (command == "sync") {
        options o(args, {}, {"--no-wait"});
        booklore::ipc::request_builder req("sync_now");
        req.flag("wait", !o.has("--no-wait"));
        return c.with_progress(req, !o.has("--no-wait"), "sync_progress",
                               booklore::ctl::render_sync_reply);
    }
    if (command == "check-server") {
        // A handful of requests to the server, each bounded by request_timeout_seconds.
        return c.exchange(booklore::ipc::request_builder("check_server"),
                          booklore::ctl::render_check, 10 * 60 * 1000);
    }
    if (command == "import-history") {
        // PATH is the one argument that is not an option; made absolute here, because the
        // daemon does not run in the caller's folder.
        auto path = std::find_if(args.begin(), args.end(), [](auto& a) { return a[0] != '-'; });
        if (path == args.end())
            throw usage_error("import-history needs PATH, KOReader's statistics.sqlite3");
        std::string file = std::filesystem::absolute(*path).string();
        args.erase(path);
        options o(args, {}, {"--no-wait"});
        booklore::ipc::request_builder req("import_history");
        req.text("path", file);
        req.flag("wait", !o.has("--no-wait"));
        return c.with_progress(req, !o.has("--no-wait"), "import_progress",
                               booklore::ctl::render_import);
    }
    if (command == "clear-pending") {
        options o(args, {}, {"--yes"});
        return c.clear_pending(o.has("--yes"));
    }
    if (command == "settings") {
        auto show = [](const rapidjson::Value& r) {
            return booklore::ctl::render_settings(r["settings"]);
        };
        auto req = booklore::ctl::settings_request(args);
        return req ? c.exchange(*req, show)
                   : c.exchange(booklore::ipc::request_builder("status"), show);
    }
    if (command == "send-session") {
        options o(args,
                  {"--hash", "--start", "--end", "--duration", "--book-id", "--file", "--title",
                   "--type", "--start-progress", "--end-progress", "--start-location",
                   "--end-location", "--event-id"},
                  {});
        booklore::ipc::request_builder req("session_end");
        req.text("book_hash", o.required("--hash"));
        req.number_or_text("start_time", o.required("--start"));
        req.number_or_text("end_time", o.required("--end"));
        req.number_or_text("duration_seconds", o.required("--duration"));
        const std::pair<const char*, const char*> numbers[] = {
            {"--book-id", "book_id"},
            {"--start-progress", "start_progress"},
            {"--end-progress", "end_progress"}};
        for (auto [option, key] : numbers)
            if (auto v = o.get(option))
                req.number_or_text(key, *v);
        const std::pair<const char*, const char*> texts[] = {{"--file", "file_path"},
                                                             {"--title", "title"},
                                                             {"--type", "book_type"},
                                                             {"--start-location", "start_location"},
                                                             {"--end-location", "end_location"},
                                                             {"--event-id", "event_id"}};
        for (auto [option, key] : texts)
            if (auto v = o.get(option))
                req.text(key, *v);
        return c.exchange(req, [](const rapidjson::Value& r) {
            if (!r["queued"].GetBool())
                return std::string("not queued: ") + r["reason"].GetString();
            return "queued as session " + std::to_string(r["queue_id"].GetInt64()) +
                   (r["duplicate"].GetBool() ? " (already queued before)" : "");
        });
    }
    if (command == "delete-book") {
        options o(args, {"--file", "--hash", "--book-id", "--event-id"}, {});
        booklore::ipc::request_builder req("book_deleted");
        req.text("file_path", o.required("--file"));
        if (auto v = o.get("--hash"))
            req.text("book_hash", *v);
        if (auto v = o.get("--book-id"))
            req.number_or_text("book_id", *v);
        if (auto v = o.get("--event-id"))
            req.text("event_id", *v);
        return c.exchange(req, [](const rapidjson::Value& r) {
            if (!r["queued"].GetBool())
                return std::string("not queued: ") + r["reason"].GetString();
            return "queued as deletion " + std::to_string(r["queue_id"].GetInt64()) +
                   (r["duplicate"].GetBool() ? " (already queued before)" : "");
        });
    }
    if (command == "resume") {
        options(args, {}, {});
        return c.exchange(booklore::ipc::request_builder("resume"), [](const rapidjson::Value& r) {
            const auto& s = r["sync_in_seconds"];
            if (!s.IsNumber())
                return std::string("no sync scheduled (manual sync only)");
            std::ostringstream text;
            text << "sync in " << s.GetDouble() << " s";
            return text.str();
        });
    }
    const std::map<std::string, std::string> simple = {
        {"suspend", "suspend"}, {"network-up", "network_up"}, {"network-down", "network_down"}};
    if (auto it = simple.find(command); it != simple.end()) {
        options(args, {}, {});
        return c.exchange(booklore::ipc::request_builder(it->second.c_str()), render_nothing);
    }
    if (command == "watch") {
        options(args, {}, {});
        return c.watch();
    }
    throw usage_error("unknown command \"" + command + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const usage_error& e) {
        std::cerr << "booklore-syncctl: " << e.what() << "\n\n" << usage_text();
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "booklore-syncctl: " << e.what() << "\n";
        return exit_unreachable;
    }
}
