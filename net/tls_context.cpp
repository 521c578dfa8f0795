#include "net/tls_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace booklore::net {
namespace {

namespace ssl = boost::asio::ssl;

/// Debian/Ubuntu/Alpine, Fedora/RHEL, and macOS/BSD-style layouts, in that order.
const std::array<std::filesystem::path, 3> bundle_candidates = {
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
};

/// OpenSSL's default location, or its environment override (SSL_CERT_FILE / SSL_CERT_DIR).
std::filesystem::path effective_default(const char* env_name, const char* compiled_in) {
    const char* env = std::getenv(env_name);
    return env ? env : compiled_in;
}

void load_trust_store(ssl::context& ctx) {
    boost::system::error_code ec;
    ctx.set_default_verify_paths(ec);  // only records the paths; missing ones fail later
    const auto file =
        effective_default(X509_get_default_cert_file_env(), X509_get_default_cert_file());
    const auto dir =
        effective_default(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
    if (auto bundle = fallback_ca_bundle(file, dir, bundle_candidates))
        ctx.load_verify_file(bundle->string(), ec);  // best effort: ca_file may still do
}

}  // namespace

std::optional<std::filesystem::path> fallback_ca_bundle(
    const std::filesystem::path& default_file, const std::filesystem::path& default_dir,
    std::span<const std::filesystem::path> candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(default_file, ec) ||
        std::filesystem::is_directory(default_dir, ec))
        return std::nullopt;
    for (const auto& candidate : candidates) {
        if (std::filesystem::is_regular_file(candidate, ec))
            return candidate;
    }
    return std::nullopt;
}

ssl::context make_client_tls_context(const std::optional<std::filesystem::path>& ca_file,
                                     bool system_store) {
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_verify_mode(ssl::verify_peer);
    if (system_store)
        load_trust_store(ctx);

    if (ca_file) {
        if (!std::ifstream(*ca_file))
            throw std::runtime_error("ca_file " + ca_file->string() + ": cannot be read");
        boost::system::error_code ec;
        ctx.load_verify_file(ca_file->string(), ec);
        if (ec)
            throw std::runtime_error("ca_file " + ca_file->string() +
                                     ": holds no usable PEM certificate (" + ec.message() + ")");
    }
    return ctx;
}

}  // namespace booklore::net
