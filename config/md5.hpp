#pragma once

#include <string>
#include <string_view>

namespace booklore::config {

/// Lowercase hex MD5 of `data` (the KOReader `x-auth-key` and the book fingerprint both use it).
std::string md5_hex(std::string_view data);

}  // namespace booklore::config
