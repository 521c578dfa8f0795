#pragma once

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <optional>
#include <span>

namespace booklore::net {

/// The client TLS context shared by all connections of an http_client: TLS 1.2 or newer and
/// peer verification always on (there is no switch to turn it off). Trusts OpenSSL's default
/// store, or the first of the usual bundle paths when the compiled-in defaults do not exist
/// (static builds), plus `ca_file` for self-hosted servers. Throws std::runtime_error naming
/// `ca_file` when it cannot be read or holds no certificate.
/// Loading the system bundle parses it (about 0.1 s here, more on an e-reader), so a client
/// for a plain-HTTP server passes `system_store = false` and only checks `ca_file`.
boost::asio::ssl::context make_client_tls_context(
    const std::optional<std::filesystem::path>& ca_file, bool system_store = true);

/// The bundle to load when neither `default_file` nor `default_dir` exists: the first of
/// `candidates` that is a file; nullopt when the defaults exist or no candidate does.
std::optional<std::filesystem::path> fallback_ca_bundle(
    const std::filesystem::path& default_file, const std::filesystem::path& default_dir,
    std::span<const std::filesystem::path> candidates);

}  // namespace booklore::net
