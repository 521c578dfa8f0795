// libFuzzer target for the socket's line parser: ipc::parse_request, then the validators of the
// event requests (syncd::parse_session_end, parse_book_deleted, parse_book_opened), and the
// reply each line would get.
//
// The input is cut into lines at '\n' as the socket server does. Besides ASan/UBSan findings the
// target checks the protocol's own promises: every reply is one line of valid JSON ending in its
// only newline, an error reply names a known code, and a validated session keeps the invariants
// the queue relies on (hash lower-case hex, times as YYYY-MM-DDTHH:MM:SSZ, end >= start, a
// duration that is not negative).
//
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. tests/faults/fuzz_request.cpp \
//       ipc/request.cpp ipc/reply.cpp daemon/requests/event_fields.cpp config/utc_time.cpp \
//       config/isbn.cpp

#include "daemon/requests/event_fields.hpp"
#include "ipc/request.hpp"

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace booklore;

[[noreturn]] void fail(const char* what, std::string_view detail) {
    std::fprintf(stderr, "fuzz_request: %s: %.*s\n", what, static_cast<int>(detail.size()),
                 detail.data());
    std::abort();
}

/// A reply line is one JSON object followed by exactly one newline.
void check_line(const std::string& line) {
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
        fail("reply is not exactly one line", line);
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size() - 1);
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("ok"))
        fail("reply is not a JSON object with \"ok\"", line);
    if (!doc["ok"].GetBool()) {
        const auto& error = doc["error"];
        if (!error.IsObject() || !error.HasMember("code") || !error["code"].IsString() ||
            !error.HasMember("message"))
            fail("error reply without code/message", line);
    }
}

bool lower_hex32(const std::string& s) {
    if (s.size() != 32)
        return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

bool iso_utc(const std::string& t) {
    return t.size() == 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
           t[16] == ':' && t[19] == 'Z';
}

void one_line(std::string_view line) {
    auto parsed = ipc::parse_request(line);
    if (auto* error = std::get_if<ipc::message>(&parsed)) {
        if (error->is_ok())
            fail("a parse failure answered ok", line);
        check_line(error->line());
        return;
    }
    const auto& req = std::get<ipc::request>(parsed);
    check_line(req.ok().line());
    const auto& type = req.type();
    if (type == "session_end") {
        auto v = syncd::parse_session_end(req.body());
        if (auto* e = std::get_if<syncd::field_error>(&v)) {
            check_line(req.error(ipc::error_kind::invalid_field, e->message, e->field).line());
            return;
        }
        const auto& s = std::get<storage::session_record>(v);
        if (!lower_hex32(s.book_hash))
            fail("accepted a bad book_hash", line);
        if (!iso_utc(s.start_time) || !iso_utc(s.end_time))
            fail("stored a time not as YYYY-MM-DDTHH:MM:SSZ", line);
        if (s.end_time < s.start_time)  // same fixed-width format: text order is time order
            fail("accepted end before start", line);
        if (s.duration_seconds < 0)
            fail("accepted a negative duration", line);
    } else if (type == "book_deleted") {
        auto v = syncd::parse_book_deleted(req.body());
        if (auto* e = std::get_if<syncd::field_error>(&v))
            check_line(req.error(ipc::error_kind::invalid_field, e->message, e->field).line());
    } else if (type == "book_opened") {
        auto v = syncd::parse_book_opened(req.body());
        if (auto* e = std::get_if<syncd::field_error>(&v))
            check_line(req.error(ipc::error_kind::invalid_field, e->message, e->field).line());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    while (!input.empty()) {
        auto nl = input.find('\n');
        one_line(input.substr(0, nl));
        if (nl == std::string_view::npos)
            break;
        input.remove_prefix(nl + 1);
    }
    return 0;
}
