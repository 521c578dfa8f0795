#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace booklore::net::test {

/// A certificate and its private key, both PEM.
struct pem_identity {
    std::string certificate;
    std::string private_key;
};

/// A throw-away CA for tests (P-256 keys, generated in memory with OpenSSL's C API).
class test_ca {
public:
    explicit test_ca(const std::string& name);
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    std::string certificate_pem() const;

    /// A server certificate for `subject_alt_names` (OpenSSL syntax: "DNS:localhost,IP:::1"),
    /// valid from now + not_before until now + not_after.
    pem_identity issue(const std::string& subject_alt_names,
                       std::chrono::seconds not_before = std::chrono::hours(-1),
                       std::chrono::seconds not_after = std::chrono::hours(24)) const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

/// A fresh directory under the system temp dir, removed with its contents on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// Writes `contents` to path()/name and returns the full path.
    std::filesystem::path write(const std::string& name, const std::string& contents) const;

private:
    std::filesystem::path path_;
};

}  // namespace booklore::net::test
