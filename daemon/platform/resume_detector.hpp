#pragma once

// Kernel-level resume detection (platform.md §3, layer L2) without polling: the kernel cancels a
// CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET whenever wall time is stepped, which
// includes waking from suspend; the growth of CLOCK_BOOTTIME - CLOCK_MONOTONIC (time spent
// suspended) tells a resume from someone merely setting the clock.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace booklore::syncd {

/// One reading of the clocks whose difference is the total time spent suspended since boot.
struct clock_sample {
    std::chrono::nanoseconds boottime{};
    std::chrono::nanoseconds monotonic{};

    std::chrono::nanoseconds suspended() const { return boottime - monotonic; }
};

/// Reads CLOCK_BOOTTIME and CLOCK_MONOTONIC now.
clock_sample sample_clocks();

/// What a "wall clock was set" notification meant.
struct clock_event {
    enum class kind { resume, clock_change };
    kind what = kind::clock_change;
    /// Time spent suspended between the two samples.
    std::chrono::nanoseconds slept{};
};

/// Sans-io decision: a resume when the suspended time grew by at least `min_sleep` between the
/// samples, otherwise a plain clock change (NTP, the user, KOReader setting the time).
clock_event classify_clock_event(const clock_sample& before, const clock_sample& after,
                                 std::chrono::nanoseconds min_sleep);

/// A timer for delays counted in awake time, such as the resume-sync delay: steady_timer runs on
/// CLOCK_MONOTONIC on Linux, which stops while the device is suspended, so "15 s after resume"
/// never expires while the device sleeps again.
using awake_timer = boost::asio::steady_timer;

/// Tuning of a resume_detector.
struct resume_detector_options {
    /// Shorter sleeps are reported as clock changes. Kobo's auto-standby sleeps for seconds
    /// between page turns; the caller may filter further on the reported duration.
    std::chrono::milliseconds min_sleep{1000};
};

/// Calls a handler when the device wakes from suspend. Single-threaded, like its executor.
class resume_detector {
public:
    /// `slept` is the time spent suspended (CLOCK_BOOTTIME - CLOCK_MONOTONIC growth).
    using resume_handler = std::function<void(std::chrono::milliseconds slept)>;

    resume_detector(boost::asio::any_io_executor executor, resume_handler on_resume,
                    resume_detector_options options = {});
    ~resume_detector();
    resume_detector(const resume_detector&) = delete;
    resume_detector& operator=(const resume_detector&) = delete;

    /// Creates and arms the timerfd. Fails (logged once) on kernels without
    /// TFD_TIMER_CANCEL_ON_SET (< 3.0); the daemon then relies on the other resume sources.
    boost::system::error_code start();

    /// Closes the timerfd; no handler runs afterwards. Safe to destroy right after.
    void stop();

    bool available() const { return available_; }
    boost::system::error_code failure() const { return failure_; }

    /// Notifications seen so far, by kind (for status output and tests).
    std::uint64_t resumes() const { return resumes_; }
    std::uint64_t clock_changes() const { return clock_changes_; }

private:
    void fail(const char* what, boost::system::error_code ec);
    bool arm();
    void wait();
    void on_readable();

    resume_handler on_resume_;
    resume_detector_options options_;
    boost::asio::posix::stream_descriptor timer_;
    clock_sample last_;
    bool available_ = false;
    boost::system::error_code failure_;
    std::uint64_t resumes_ = 0;
    std::uint64_t clock_changes_ = 0;
    /// Handlers hold a weak_ptr to this, so a queued handler never touches a destroyed detector.
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace booklore::syncd
