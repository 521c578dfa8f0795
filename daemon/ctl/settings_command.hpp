#pragma once
// `booklore-syncctl settings`: the set_settings request built from the command line. Passwords
// never come from the command line (other users can read it in ps): they are asked for on the
// terminal without echo, or read from standard input.

#include "ipc/client.hpp"

#include <optional>
#include <string>
#include <vector>

namespace booklore::ctl {

/// The request for `args`, or nothing when no setting is given (then the settings are shown).
/// Throws usage_error.
std::optional<ipc::request_builder> settings_request(const std::vector<std::string>& args);

}  // namespace booklore::ctl
