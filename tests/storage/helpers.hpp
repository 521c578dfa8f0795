#pragma once

#include "storage/database.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace booklore::storage::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

/// A valid session for `hash` (32 hex characters derived from `n`).
session_record make_session(int n, std::optional<std::int64_t> book_id = std::nullopt,
                            std::optional<std::string> event_id = std::nullopt);

std::string hash_of(int n);

/// Enqueues one item and returns its result, failing the test on an error.
enqueue_result enqueue_one(database& db, const ingest_item& item);

/// Asserts success and returns the value.
template <typename T>
T ok(boost::system::result<T> r) {
    INFO("error: " << (r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return std::move(*r);
}

inline void ok(boost::system::result<void> r) {
    INFO("error: " << (r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
}

/// First column of the first row, as text (test-side inspection through the live connection).
std::string query(sqlite_connection& conn, const std::string& sql);
std::int64_t query_int(sqlite_connection& conn, const std::string& sql);

/// All files in `dir` whose name starts with `prefix`, sorted.
std::vector<std::string> files_starting_with(const std::filesystem::path& dir,
                                             const std::string& prefix);

void write_file(const std::filesystem::path& file, const std::string& bytes);
std::string read_file(const std::filesystem::path& file);

}  // namespace booklore::storage::test
