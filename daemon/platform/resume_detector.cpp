#include "daemon/platform/resume_detector.hpp"

#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <limits>

namespace booklore::syncd {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::chrono::nanoseconds read_clock(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

boost::system::error_code last_error() {
    return {errno, boost::system::system_category()};
}

}  // namespace

clock_sample sample_clocks() {
    // BOOTTIME first: if a suspend slips in between, the sample under-reports it (a missed
    // resume) rather than inventing one.
    const auto boottime = read_clock(CLOCK_BOOTTIME);
    return {boottime, read_clock(CLOCK_MONOTONIC)};
}

clock_event classify_clock_event(const clock_sample& before, const clock_sample& after,
                                 std::chrono::nanoseconds min_sleep) {
    const auto slept = std::max(after.suspended() - before.suspended(), 0ns);
    return {slept >= min_sleep ? clock_event::kind::resume : clock_event::kind::clock_change,
            slept};
}

resume_detector::resume_detector(asio::any_io_executor executor, resume_handler on_resume,
                                 resume_detector_options options)
    : on_resume_(std::move(on_resume)), options_(options), timer_(executor) {}

resume_detector::~resume_detector() {
    stop();
}

boost::system::error_code resume_detector::start() {
    if (available_) {
        return {};
    }
    const int fd = ::timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        const auto ec = last_error();
        fail("timerfd_create", ec);
        return ec;
    }
    boost::system::error_code ec;
    timer_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        fail("assign", ec);
        return ec;
    }
    available_ = true;
    failure_.clear();
    if (!arm()) {
        return failure_;
    }
    wait();
    return {};
}

void resume_detector::stop() {
    available_ = false;
    boost::system::error_code ignored;
    timer_.close(ignored);
}

void resume_detector::fail(const char* what, boost::system::error_code ec) {
    spdlog::warn("resume_detector_unavailable step={} error=\"{}\"", what, ec.message());
    stop();
    failure_ = ec;
}

bool resume_detector::arm() {
    // A year ahead: the timer is never meant to expire, only to be cancelled. Clamped so a
    // 32-bit time_t (armhf) cannot overflow near 2038.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    constexpr time_t year = 365 * 24 * 3600;
    const time_t max = std::numeric_limits<time_t>::max();
    itimerspec spec{};
    spec.it_value.tv_sec = now.tv_sec < max - year ? now.tv_sec + year : max;
    last_ = sample_clocks();
    if (::timerfd_settime(timer_.native_handle(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
                          &spec, nullptr) != 0) {
        fail("timerfd_settime", last_error());  // EINVAL: kernel older than 3.0
        return false;
    }
    return true;
}

void resume_detector::wait() {
    timer_.async_wait(
        asio::posix::descriptor_base::wait_read,
        [this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
            if (alive.expired() || ec == asio::error::operation_aborted || !available_) {
                return;
            }
            if (ec) {
                fail("wait", ec);
                return;
            }
            on_readable();
        });
}

void resume_detector::on_readable() {
    std::uint64_t expirations = 0;
    const ssize_t n = ::read(timer_.native_handle(), &expirations, sizeof expirations);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        wait();  // spurious wake-up
        return;
    }
    if (n < 0 && errno != ECANCELED) {
        fail("read", last_error());
        return;
    }
    // ECANCELED is the clock-was-set notification; an expiry (the clock jumped past a year
    // ahead) is classified the same way.
    const clock_sample before = last_;
    const clock_event event = classify_clock_event(before, sample_clocks(), options_.min_sleep);
    if (!arm()) {  // before the handler, which may stop() us
        return;
    }
    const auto slept = std::chrono::duration_cast<std::chrono::milliseconds>(event.slept);
    if (event.what == clock_event::kind::clock_change) {
        ++clock_changes_;
        spdlog::info("clock_changed suspended_ms={}", slept.count());
        wait();
        return;
    }
    ++resumes_;
    spdlog::info("device_resumed source=kernel slept_seconds={:.1f}",
                 std::chrono::duration<double>(slept).count());
    wait();
    if (on_resume_) {
        on_resume_(slept);
    }
}

}  // namespace booklore::syncd
