#pragma once
// The client side of the line protocol: one blocking connection with deadlines, a request
// builder and a reply reader. Used by booklore-syncctl and by the C++ test programs.

#include <rapidjson/document.h>

#include <string>

namespace booklore::ipc {

/// One connection to the daemon's socket; reads wait with poll(), bounded by a timeout.
/// Every failure throws std::runtime_error with a message for a person.
class line_client {
public:
    explicit line_client(const std::string& socket_path);
    ~line_client();
    line_client(const line_client&) = delete;
    line_client& operator=(const line_client&) = delete;

    /// Sends one line; the newline is added here.
    void send(const std::string& line);
    /// The next line without its newline, waiting at most `timeout_ms` (-1: forever).
    std::string receive(int timeout_ms);

private:
    int fd_ = -1;
    std::string buffer_;
};

/// A request object under construction: `{"type":...}` plus fields.
class request_builder {
public:
    explicit request_builder(const char* type);
    request_builder& text(const char* key, const std::string& value);
    request_builder& flag(const char* key, bool value);
    /// Numbers stay numbers; anything else is sent as text and judged by the daemon.
    request_builder& number_or_text(const char* key, const std::string& value);
    std::string line() const;

private:
    rapidjson::Document doc_;
};

/// Parses a reply or event line; throws when it is not a JSON object.
rapidjson::Document parse_reply(const std::string& line);
/// True for `{"ok":true,...}`.
bool is_ok(const rapidjson::Value& reply);

}  // namespace booklore::ipc
