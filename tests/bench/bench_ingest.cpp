// bench_ingest: closed-loop session_end load against a running booklore-syncd.
//
//   bench_ingest --socket PATH --clients N (--seconds S | --total N) [--books B]
//                [--book-id-base ID] [--run TAG]
//
// Each client is a thread with its own connection that sends one session_end, waits for its
// reply, checks that it says ok+queued, and only then sends the next: the rate is acknowledged
// (durably committed) events per second, the latency is send-to-reply. Threads blocked in read()
// cost no CPU, so on a 2-core machine the clients disturb the daemon less than a script would.
// Prints one JSON object: {"events", "seconds", "per_second", "mean_ms", "median_ms", "p99_ms",
// "max_ms"}.
//
// Session n of a run uses book n % B: hash = 32 hex digits of (n % B + 1), book_id = base + n % B
// (no book_id when the base is 0), start time 2026-01-01 + n hours, so every event is distinct
// and the drain benchmark can find its books on the stand-in.

#include "ipc/client.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
    std::string socket;
    int clients = 1;
    double seconds = 0;
    long total = 0;
    int books = 1;
    long book_id_base = 0;
    std::string run = "r";
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "bench_ingest: %s\nusage: bench_ingest --socket PATH --clients N "
                 "(--seconds S | --total N) [--books B] [--book-id-base ID] [--run TAG]\n",
                 why);
    std::exit(2);
}

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc)
            usage("missing value");
        const char* v = argv[++i];
        if (a == "--socket")
            o.socket = v;
        else if (a == "--clients")
            o.clients = std::atoi(v);
        else if (a == "--seconds")
            o.seconds = std::atof(v);
        else if (a == "--total")
            o.total = std::atol(v);
        else if (a == "--books")
            o.books = std::atoi(v);
        else if (a == "--book-id-base")
            o.book_id_base = std::atol(v);
        else if (a == "--run")
            o.run = v;
        else
            usage("unknown option");
    }
    if (o.socket.empty() || o.clients < 1 || o.books < 1 || (o.seconds <= 0) == (o.total <= 0))
        usage("need --socket, --clients >= 1 and exactly one of --seconds / --total");
    return o;
}

std::string session_line(const options& o, long n) {
    long book = n % o.books;
    char hash[33];
    std::snprintf(hash, sizeof hash, "%032lx", book + 1);
    long start = 1767225600L + n * 3600L;  // 2026-01-01T00:00:00Z + n hours
    std::string book_id = o.book_id_base > 0 ? std::to_string(o.book_id_base + book) : "null";
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"type\":\"session_end\",\"event_id\":\"%s-%ld\",\"book_hash\":\"%s\","
                  "\"book_id\":%s,\"title\":\"Bench book %ld\",\"start_time\":%ld,"
                  "\"end_time\":%ld,\"duration_seconds\":600,\"start_progress\":10.0,"
                  "\"end_progress\":12.5,\"start_location\":\"10\",\"end_location\":\"12\"}\n",
                  o.run.c_str(), n, hash, book_id.c_str(), book, start, start + 600);
    return line;
}

struct client_result {
    std::vector<double> latencies_ms;
    clock_type::time_point first_send, last_reply;
    std::string failure;
};

}  // namespace

int main(int argc, char** argv) {
    options o = parse_args(argc, argv);
    std::vector<client_result> results(static_cast<std::size_t>(o.clients));
    std::atomic<long> next{0};
    std::barrier start_together(o.clients + 1);
    clock_type::time_point deadline;

    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c) {
        threads.emplace_back([&, c] {
            auto& r = results[static_cast<std::size_t>(c)];
            std::optional<booklore::ipc::line_client> conn;
            try {
                conn.emplace(o.socket);
            } catch (const std::exception& e) {
                r.failure = e.what();
            }
            start_together.arrive_and_wait();
            r.first_send = clock_type::now();
            r.last_reply = r.first_send;
            while (conn) {
                long n = next.fetch_add(1);
                if (o.total > 0 ? n >= o.total : clock_type::now() >= deadline)
                    break;
                std::string line = session_line(o, n);
                line.pop_back();  // the client adds the newline
                auto sent = clock_type::now();
                std::string reply;
                try {
                    conn->send(line);
                    reply = conn->receive(-1);
                } catch (const std::exception& e) {
                    r.failure = e.what();
                    break;
                }
                auto got = clock_type::now();
                if (reply.find("\"ok\":true") == std::string::npos ||
                    reply.find("\"queued\":true") == std::string::npos) {
                    r.failure = reply.substr(0, 300);
                    break;
                }
                r.latencies_ms.push_back(
                    std::chrono::duration<double, std::milli>(got - sent).count());
                r.last_reply = got;
            }
        });
    }
    // Written before the barrier that releases the clients, so they all see it.
    auto begin = clock_type::now();
    deadline = begin + std::chrono::duration_cast<clock_type::duration>(
                           std::chrono::duration<double>(o.seconds));
    start_together.arrive_and_wait();
    for (auto& t : threads)
        t.join();

    std::vector<double> all;
    auto end = begin;
    for (auto& r : results) {
        if (!r.failure.empty()) {
            std::fprintf(stderr, "bench_ingest: a client failed: %s\n", r.failure.c_str());
            return 1;
        }
        all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        end = std::max(end, r.last_reply);
    }
    if (all.empty()) {
        std::fprintf(stderr, "bench_ingest: no event was acknowledged\n");
        return 1;
    }
    std::sort(all.begin(), all.end());
    double seconds = std::chrono::duration<double>(end - begin).count();
    auto pct = [&](double p) {
        auto i = static_cast<std::size_t>(p * static_cast<double>(all.size() - 1) + 0.5);
        return all[std::min(i, all.size() - 1)];
    };
    std::printf(
        "{\"events\":%zu,\"seconds\":%.4f,\"per_second\":%.1f,\"mean_ms\":%.3f,"
        "\"median_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
        all.size(), seconds, static_cast<double>(all.size()) / seconds,
        std::accumulate(all.begin(), all.end(), 0.0) / static_cast<double>(all.size()), pct(0.5),
        pct(0.99), all.back());
    return 0;
}
