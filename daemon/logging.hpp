#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace booklore::syncd {

/// Logs go to stderr and, when configured, to a file; `open_logs` again reopens that file
/// (SIGHUP after log rotation).
void open_logs(const std::string& level, const std::optional<std::filesystem::path>& file);

}  // namespace booklore::syncd
