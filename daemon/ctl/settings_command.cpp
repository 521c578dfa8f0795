#include "daemon/ctl/settings_command.hpp"

#include "daemon/ctl/options.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <utility>

namespace booklore::ctl {
namespace {

/// Text settings and the request key each one sets.
const std::pair<const char*, const char*> text_settings[] = {
    {"--server-url", "server_url"},
    {"--username", "username"},
    {"--booklore-username", "booklore_username"},
    {"--deletion-mode", "deletion_mode"},
    {"--ca-file", "ca_file"},
};

/// Asks on the controlling terminal with echo off.
std::string ask_without_echo(const std::string& prompt) {
    int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0)
        throw usage_error("no terminal to ask for the password on; use --password-stdin");
    termios saved{};
    bool restore = ::tcgetattr(tty, &saved) == 0;
    if (restore) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    (void)!::write(tty, prompt.data(), prompt.size());
    std::string line;
    char c = 0;
    while (::read(tty, &c, 1) == 1 && c != '\n')
        line += c;
    (void)!::write(tty, "\n", 1);
    if (restore)
        ::tcsetattr(tty, TCSAFLUSH, &saved);
    ::close(tty);
    return line;
}

std::string line_from_stdin(const char* what) {
    std::string line;
    if (!std::getline(std::cin, line))
        throw usage_error(std::string("no ") + what + " on standard input");
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line;
}

}  // namespace

std::optional<ipc::request_builder> settings_request(const std::vector<std::string>& args) {
    std::vector<std::string> valued = {"--manual-sync-only", "--ask-before-enabling-wifi",
                                       "--shelf-id"};
    for (const auto& [option, key] : text_settings)
        valued.push_back(option);
    options o(
        args, valued,
        {"--password", "--password-stdin", "--booklore-password", "--booklore-password-stdin"});
    if (o.has("--password") && o.has("--password-stdin"))
        throw usage_error("give --password or --password-stdin, not both");
    if (o.has("--booklore-password") && o.has("--booklore-password-stdin"))
        throw usage_error("give --booklore-password or --booklore-password-stdin, not both");
    if (args.empty())
        return std::nullopt;

    ipc::request_builder req("set_settings");
    if (auto v = o.get("--manual-sync-only"))
        req.flag("manual_sync_only", parse_on_off("--manual-sync-only", *v));
    if (auto v = o.get("--ask-before-enabling-wifi"))
        req.flag("ask_before_enabling_wifi", parse_on_off("--ask-before-enabling-wifi", *v));
    for (const auto& [option, key] : text_settings)
        if (auto v = o.get(option))
            req.text(key, *v);
    if (auto v = o.get("--shelf-id"))
        req.number_or_text("shelf_id", *v);
    // Standard input holds the KOReader password first, then the BookLore one.
    if (o.has("--password-stdin"))
        req.text("password", line_from_stdin("KOReader password"));
    else if (o.has("--password"))
        req.text("password", ask_without_echo("KOReader sync password: "));
    if (o.has("--booklore-password-stdin"))
        req.text("booklore_password", line_from_stdin("BookLore password"));
    else if (o.has("--booklore-password"))
        req.text("booklore_password", ask_without_echo("BookLore password: "));
    return req;
}

}  // namespace booklore::ctl
