#include "daemon/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace booklore::syncd {

void open_logs(const std::string& level, const std::optional<std::filesystem::path>& file) {
    std::vector<spdlog::sink_ptr> sinks;
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_st>());
    if (file) {
        try {
            sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_st>(file->string()));
        } catch (const spdlog::spdlog_ex& e) {
            // Keep logging to stderr: a missing log directory must not stop the sync.
            spdlog::error("log_file_unavailable path={} error=\"{}\"", file->string(), e.what());
        }
    }
    auto logger = std::make_shared<spdlog::logger>("booklore-syncd", sinks.begin(), sinks.end());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

}  // namespace booklore::syncd
