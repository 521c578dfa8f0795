#pragma once

#include <rapidjson/document.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace booklore::config {

/// What a deletion on the device does on the server (INTERFACE.md `deletion_mode`).
enum class deletion_mode { remove, unshelve, off };

/// The daemon's configuration, validated. Field names follow the JSON keys of INTERFACE.md.
struct settings {
    std::string server_url;
    std::string username;
    /// Lowercase hex MD5 of the KOReader sync password (`password` is hashed on load).
    std::string password_md5;
    std::optional<std::string> booklore_username;
    std::optional<std::string> booklore_password;
    std::filesystem::path database;
    std::filesystem::path socket;
    /// Group that may also use the socket (mode 0660 instead of 0600).
    std::optional<std::string> socket_group;
    bool manual_sync_only = false;
    bool ask_before_enabling_wifi = false;
    double resume_sync_delay_seconds = 15;
    int batch_size = 100;
    double request_timeout_seconds = 10;
    std::optional<std::filesystem::path> ca_file;
    deletion_mode deletion = deletion_mode::remove;
    std::optional<std::int64_t> shelf_id;
    int min_session_seconds = 30;
    std::optional<std::filesystem::path> log_file;
    std::string log_level = "info";
    int max_connections = 32;
    double idle_timeout_seconds = 300;

    bool has_booklore_account() const { return booklore_username && booklore_password; }
};

/// A configuration problem, naming the file and the key so the user can fix it.
class config_error : public std::runtime_error {
public:
    config_error(std::string file, std::string key, const std::string& problem);
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

/// The keys `set_settings` may change besides the two switches: the server and its accounts.
inline constexpr std::array<std::string_view, 9> server_keys = {
    "server_url",        "username",      "password", "password_md5", "booklore_username",
    "booklore_password", "deletion_mode", "shelf_id", "ca_file"};

/// Applies the server keys present in `values` onto `s` with the file's own validation (an
/// empty string unsets a key), then checks the rules that join them. Throws config_error
/// naming the key; `s` may then be partly changed, so pass a copy.
void apply_server_keys(const rapidjson::Value& values, settings& s, const std::string& source);

/// Reads, parses and validates a configuration file. Throws config_error.
settings load_file(const std::filesystem::path& file);

/// Parses and validates configuration text; `file` only names the source in errors.
settings parse(const std::string& text, const std::string& file = "<config>");

/// Refuses a file holding a password that group or others may read.
void check_permissions(const std::filesystem::path& file, const settings& s);

const char* to_string(deletion_mode mode);

}  // namespace booklore::config
