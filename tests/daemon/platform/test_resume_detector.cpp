#include "daemon/platform/resume_detector.hpp"

#include <time.h>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <functional>
#include <type_traits>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using booklore::syncd::awake_timer;
using booklore::syncd::classify_clock_event;
using booklore::syncd::clock_event;
using booklore::syncd::clock_sample;
using booklore::syncd::resume_detector;
using booklore::syncd::sample_clocks;

namespace {

bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
               std::chrono::steady_clock::duration limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        ioc.restart();
        ioc.run_one_for(50ms);
    }
    return done();
}

}  // namespace

TEST_CASE("a clock step without suspended time is a clock change") {
    const clock_sample before{100s, 90s};  // 10 s suspended since boot
    const clock_sample after{200s, 189'500ms};
    const auto e = classify_clock_event(before, after, 1s);
    CHECK(e.what == clock_event::kind::clock_change);
    CHECK(e.slept == 500ms);
}

TEST_CASE("suspended time growing by the minimum or more is a resume") {
    const clock_sample before{100s, 90s};
    auto e = classify_clock_event(before, {3700s, 3650s}, 1s);
    CHECK(e.what == clock_event::kind::resume);
    CHECK(e.slept == 40s);

    e = classify_clock_event(before, {102s, 91s}, 1s);  // exactly the minimum
    CHECK(e.what == clock_event::kind::resume);
    CHECK(e.slept == 1s);

    e = classify_clock_event(before, {3700s, 3650s}, 60s);  // a longer minimum filters standby
    CHECK(e.what == clock_event::kind::clock_change);
}

TEST_CASE("a shrinking difference (clock noise) counts as no sleep") {
    const auto e = classify_clock_event({100s, 90s}, {100s, 95s}, 1s);
    CHECK(e.what == clock_event::kind::clock_change);
    CHECK(e.slept == 0ns);
}

TEST_CASE("clock samples: suspended time is about zero or more, and barely moves while awake") {
    const auto a = sample_clocks();
    const auto b = sample_clocks();
    CHECK(a.suspended() > -1ms);  // the two clocks are read one after the other
    CHECK(b.monotonic >= a.monotonic);
    CHECK(std::chrono::abs(b.suspended() - a.suspended()) < 10ms);
}

TEST_CASE("awake_timer counts CLOCK_MONOTONIC, which stops during suspend") {
    static_assert(std::is_same_v<awake_timer::clock_type, std::chrono::steady_clock>);
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto monotonic = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    const auto steady = std::chrono::steady_clock::now().time_since_epoch();
    CHECK(std::chrono::abs(steady - monotonic) < 50ms);
}

TEST_CASE("the detector arms its timerfd and stops cleanly") {
    asio::io_context ioc{1};
    int resumes = 0;
    resume_detector detector(ioc.get_executor(), [&](std::chrono::milliseconds) { ++resumes; });
    REQUIRE_FALSE(detector.start());  // TFD_TIMER_CANCEL_ON_SET exists since Linux 3.0
    CHECK(detector.available());
    detector.stop();
    CHECK_FALSE(detector.available());
    const auto before = std::chrono::steady_clock::now();
    ioc.run_for(2s);  // returns at once: no timer, no pending wait
    CHECK(std::chrono::steady_clock::now() - before < 1s);
    CHECK(resumes == 0);
}

TEST_CASE("setting the wall clock is classified as a clock change, not a resume") {
    asio::io_context ioc{1};
    int resumes = 0;
    resume_detector detector(ioc.get_executor(), [&](std::chrono::milliseconds) { ++resumes; });
    REQUIRE_FALSE(detector.start());

    // Setting the clock to what it reads is harmless: it moves back by the microseconds between
    // the two calls, which is enough for the kernel to see a clock-was-set event.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (::clock_settime(CLOCK_REALTIME, &now) != 0) {
        WARN("skipped: clock_settime needs CAP_SYS_TIME (errno " << errno << ")");
        return;
    }
    REQUIRE(run_until(ioc, [&] { return detector.clock_changes() == 1; }));
    CHECK(detector.resumes() == 0);
    CHECK(resumes == 0);

    // Re-armed: a second change is seen as well.
    ::clock_gettime(CLOCK_REALTIME, &now);
    REQUIRE(::clock_settime(CLOCK_REALTIME, &now) == 0);
    REQUIRE(run_until(ioc, [&] { return detector.clock_changes() == 2; }));
    CHECK(resumes == 0);
    CHECK(detector.available());
}
