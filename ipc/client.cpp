#include "ipc/client.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace booklore::ipc {

line_client::line_client(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("cannot reach booklore-syncd at " + path + ": " +
                                 std::strerror(errno));
}

line_client::~line_client() {
    if (fd_ >= 0)
        ::close(fd_);
}

void line_client::send(const std::string& line) {
    std::string out = line + "\n";
    for (std::size_t sent = 0; sent < out.size();) {
        ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            throw std::runtime_error(std::string("lost the daemon: ") + std::strerror(errno));
        sent += static_cast<std::size_t>(n);
    }
}

std::string line_client::receive(int timeout_ms) {
    for (;;) {
        if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        pollfd p{fd_, POLLIN, 0};
        int ready = ::poll(&p, 1, timeout_ms);
        if (ready == 0)
            throw std::runtime_error("the daemon did not answer in time");
        if (ready < 0 && errno == EINTR)
            continue;
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0)
            throw std::runtime_error("the daemon closed the connection");
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

request_builder::request_builder(const char* type) {
    doc_.SetObject();
    text("type", type);
}

request_builder& request_builder::text(const char* key, const std::string& value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key, a), rapidjson::Value(value.c_str(), a), a);
    return *this;
}

request_builder& request_builder::flag(const char* key, bool value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key, a), rapidjson::Value(value), a);
    return *this;
}

request_builder& request_builder::number_or_text(const char* key, const std::string& value) {
    auto& a = doc_.GetAllocator();
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(value.c_str(), &end, 10);
    if (!value.empty() && *end == '\0' && errno == 0) {
        doc_.AddMember(rapidjson::Value(key, a), rapidjson::Value(static_cast<int64_t>(n)), a);
        return *this;
    }
    double d = std::strtod(value.c_str(), &end);
    if (!value.empty() && *end == '\0') {
        doc_.AddMember(rapidjson::Value(key, a), rapidjson::Value(d), a);
        return *this;
    }
    return text(key, value);
}

std::string request_builder::line() const {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    doc_.Accept(writer);
    return buffer.GetString();
}

rapidjson::Document parse_reply(const std::string& line) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    if (doc.HasParseError() || !doc.IsObject())
        throw std::runtime_error("the daemon sent something that is not a JSON object");
    return doc;
}

bool is_ok(const rapidjson::Value& reply) {
    auto it = reply.FindMember("ok");
    return it != reply.MemberEnd() && it->value.IsTrue();
}

}  // namespace booklore::ipc
