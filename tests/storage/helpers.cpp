#include "tests/storage/helpers.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

namespace booklore::storage::test {

temp_dir::temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/storage-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string hash_of(int n) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%032x", n);
    return buf;
}

session_record make_session(int n, std::optional<std::int64_t> book_id,
                            std::optional<std::string> event_id) {
    session_record s;
    s.event_id = std::move(event_id);
    s.book_id = book_id;
    s.book_hash = hash_of(n);
    s.book_type = "EPUB";
    s.start_time = "2026-01-02T10:00:00Z";
    s.end_time = "2026-01-02T10:30:00Z";
    s.duration_seconds = 1800;
    s.start_progress = 10.0;
    s.end_progress = 12.5;
    s.start_location = "10";
    s.end_location = "14";
    return s;
}

enqueue_result enqueue_one(database& db, const ingest_item& item) {
    auto r = ok(db.enqueue(std::span<const ingest_item>(&item, 1)));
    REQUIRE(r.size() == 1);
    return r[0];
}

std::string query(sqlite_connection& conn, const std::string& sql) {
    auto r = conn.query_text(sql);
    INFO(sql << ": " << (r ? std::string() : r.error().message() + " " + last_error_detail()));
    REQUIRE(r.has_value());
    return r->value_or("<null>");
}

std::int64_t query_int(sqlite_connection& conn, const std::string& sql) {
    auto r = conn.query_int64(sql);
    INFO(sql << ": " << (r ? std::string() : r.error().message() + " " + last_error_detail()));
    REQUIRE(r.has_value());
    return *r;
}

std::vector<std::string> files_starting_with(const std::filesystem::path& dir,
                                             const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) == 0)
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

void write_file(const std::filesystem::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
    REQUIRE(out.good());
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace booklore::storage::test
