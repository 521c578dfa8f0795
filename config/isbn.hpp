#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace booklore {

/// The 13 digits of an ISBN-10 or ISBN-13 (hyphens and spaces allowed, an ISBN-10 may end in
/// X), if its check digit is right; an ISBN-10 becomes 978 + its first 9 digits + a new check
/// digit, as servers store both forms.
std::optional<std::string> normalise_isbn(std::string_view isbn);

}  // namespace booklore
