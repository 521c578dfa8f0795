#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace booklore {

/// Parses an ISO-8601 time with a zone (`Z`, `z` or `±HH:MM`), optional fractional seconds
/// (dropped), into seconds since the epoch. Times without a zone are refused: a reader's local
/// time would be stored as if it were UTC.
std::optional<std::int64_t> parse_iso_utc(std::string_view text);

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
std::string format_iso_utc(std::int64_t epoch_seconds);

/// The current time, formatted as above: the daemon's one reading of the UTC clock.
std::string utc_now_iso();

/// The latest time we accept (9999-12-31T23:59:59Z); anything later is a unit mistake.
inline constexpr std::int64_t max_epoch_seconds = 253402300799;

}  // namespace booklore
