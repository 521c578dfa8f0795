#pragma once
// Starting a coroutine that nobody awaits. With `detached` an exception would end the task
// silently and leave its owner's state half-changed (a "running" flag that stays set wedges
// the daemon), so every task started this way reports its failure to its owner.

#include <spdlog/spdlog.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>

#include <exception>
#include <functional>
#include <utility>

namespace booklore {

/// Runs `task` on `executor`. An exception it throws is logged with `what`, then `recover`
/// runs so that the owner can put its state right.
template <typename Executor>
void spawn_logged(Executor executor, boost::asio::awaitable<void> task, const char* what,
                  std::function<void()> recover = {}) {
    boost::asio::co_spawn(executor, std::move(task),
                          [what, recover = std::move(recover)](std::exception_ptr failure) {
                              if (!failure)
                                  return;
                              try {
                                  std::rethrow_exception(failure);
                              } catch (const std::exception& e) {
                                  spdlog::error("task_failed task={} error=\"{}\"", what, e.what());
                              } catch (...) {
                                  spdlog::error("task_failed task={} error=unknown", what);
                              }
                              if (recover)
                                  recover();
                          });
}

}  // namespace booklore
