#pragma once
// Command-line options of booklore-syncctl's commands.

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace booklore::ctl {

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `--name value` options after the command.
class options {
public:
    options(std::vector<std::string> args, std::vector<std::string> valued,
            std::vector<std::string> flags) {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
                flags_.push_back(a);
            } else if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
                if (i + 1 >= args.size())
                    throw usage_error(a + " needs a value");
                values_[a] = args[++i];
            } else {
                throw usage_error("unknown option \"" + a + "\"");
            }
        }
    }
    std::optional<std::string> get(const std::string& name) const {
        auto it = values_.find(name);
        return it == values_.end() ? std::nullopt : std::optional(it->second);
    }
    std::string required(const std::string& name) const {
        auto v = get(name);
        if (!v)
            throw usage_error(name + " is required");
        return *v;
    }
    bool has(const std::string& flag) const {
        return std::find(flags_.begin(), flags_.end(), flag) != flags_.end();
    }

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> flags_;
};

inline bool parse_on_off(const std::string& option, const std::string& value) {
    if (value == "on" || value == "true" || value == "yes")
        return true;
    if (value == "off" || value == "false" || value == "no")
        return false;
    throw usage_error(option + " takes on or off");
}

}  // namespace booklore::ctl
