#include "plan_driver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <ctime>

namespace plan_test {
namespace {

std::string iso(std::time_t t) {
    char out[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

}  // namespace

std::vector<plan_row> make_rows(std::size_t n, bool in_doubt) {
    std::vector<plan_row> rows;
    for (std::size_t i = 0; i < n; ++i) {
        std::time_t start = 1771754400 + static_cast<std::time_t>(i) * 120;
        rows.push_back({iso(start), iso(start + 60), 60, in_doubt});
    }
    return rows;
}

std::optional<canned> fake_server::security(const std::string& path, credentials c) const {
    const bool ko = c == credentials::koreader;
    switch (p) {
        case profile::G:  // KOReader headers count only under /api/koreader/**
            if (ko)
                return spring_error(401, "Unauthorized");
            break;
        case profile::A:
            if (ko)
                return spring_error(403, "Forbidden");
            break;
        case profile::W:  // KOReader headers on every /api/v1/reading-sessions path
            break;
        case profile::B:  // KOReader headers on the two POSTs only
            if (ko && path == "list")
                return spring_error(403, "Forbidden");
            break;
        case profile::B0:  // single: KOReader chain without JWT filter; the rest Bearer only
            if ((path == "single") == !ko)
                return spring_error(403, "Forbidden");
            break;
    }
    return std::nullopt;
}

canned fake_server::upload(bool batch, credentials c, const std::vector<plan_row>& rows) {
    const std::string path = batch ? "batch" : "single";
    ++requests[path + (c == credentials::koreader ? "/ko" : "/bearer")];
    if (auto refused = security(path, c))
        return *refused;
    if (batch && (p == profile::G || p == profile::A))  // no handler: the SPA fallback
        return app_error(500, "An unexpected error occurred.");
    if (upload_fault)
        return *upload_fault;
    if (!book_exists || (!book_accessible && p == profile::B))
        return app_error(404, "Book not found with ID: 7");
    if (!book_accessible && p == profile::W)
        return app_error(403, "You are not authorized to access this book.");
    std::string results;
    for (const auto& r : rows) {
        sessions.push_back({next_id, r.start_time, r.end_time, r.duration_seconds});
        results += std::string(results.empty() ? "" : ",") + R"({"sessionId":)" +
                   std::to_string(next_id++) + R"(,"startTime":")" + r.start_time +
                   R"(","endTime":")" + r.end_time + "\"}";
    }
    if (lose_replies > 0) {
        --lose_replies;
        return {0, "", ""};
    }
    if (batch)
        return {200, "application/json",
                R"({"totalRequested":)" + std::to_string(rows.size()) + R"(,"successCount":)" +
                    std::to_string(rows.size()) + R"(,"results":[)" + results + "]}"};
    if (p == profile::B0)
        return {202, "application/json", R"({"sessionId":)" + std::to_string(next_id - 1) + "}"};
    return {202, "", ""};
}

canned fake_server::list(credentials c, std::int64_t page, std::int64_t size) {
    ++requests[c == credentials::koreader ? "list/ko" : "list/bearer"];
    if (auto refused = security("list", c))
        return *refused;
    if (!book_exists)
        return app_error(404, "Book not found with ID: 7");
    auto sorted = sessions;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.start_time > b.start_time; });
    const auto total = static_cast<std::int64_t>(sorted.size());
    std::string content;
    for (std::int64_t i = page * size; i < std::min(total, (page + 1) * size); ++i) {
        const auto& s = sorted[static_cast<std::size_t>(i)];
        content += std::string(content.empty() ? "" : ",") + R"({"id":)" + std::to_string(s.id) +
                   R"(,"bookId":7,"bookTitle":"Dune","bookType":"EPUB","startTime":")" +
                   s.start_time + R"(","endTime":")" + s.end_time + R"(","durationSeconds":)" +
                   std::to_string(s.duration_seconds) +
                   R"(,"startProgress":null,"endProgress":null,"progressDelta":null,)"
                   R"("startLocation":null,"endLocation":null,"createdAt":"2026-02-22T15:00:07"})";
    }
    return {200, "application/json",
            R"({"content":[)" + content + R"(],"page":{"size":)" + std::to_string(size) +
                R"(,"number":)" + std::to_string(page) + R"(,"totalElements":)" +
                std::to_string(total) + R"(,"totalPages":)" +
                std::to_string((total + size - 1) / size) + "}}"};
}

trace drive(upload_plan& plan, fake_server& server, std::optional<outcome> login_failure) {
    trace t;
    for (std::size_t i = 0; i < plan.rows().size(); ++i)
        if (plan.rows()[i].in_doubt)
            t.in_doubt.push_back(i);
    std::optional<action> next = plan.resume(outcome{});
    for (int step = 0; step < 100000; ++step) {
        action a = std::move(*next);
        for (std::size_t i : a.mark_doubt)
            if (std::find(t.in_doubt.begin(), t.in_doubt.end(), i) == t.in_doubt.end())
                t.in_doubt.push_back(i);
        for (std::size_t i : a.clear_doubt)
            std::erase(t.in_doubt, i);
        t.kinds.push_back(a.kind);
        const bool login_fails = a.how == credentials::bearer && login_failure;
        outcome last;
        switch (a.kind) {
            case action_kind::reconcile:
                ++t.reconcile_reads;
                if (login_fails) {
                    next = plan.resume(*login_failure);
                    continue;
                }
                next = plan.resume(
                    classify_session_page(server.list(a.how, a.page, a.page_size).view(), a.how));
                continue;
            case action_kind::send_batch:
            case action_kind::send_single: {
                if (login_fails) {
                    last = *login_failure;
                    break;
                }
                std::vector<plan_row> rows;
                for (std::size_t i : a.rows)
                    rows.push_back(plan.rows()[i]);
                const bool batch = a.kind == action_kind::send_batch;
                canned c = server.upload(batch, a.how, rows);
                last = c.status == 0
                           ? transport_failure(true, "timeout")
                           : classify_upload(batch ? request_kind::batch : request_kind::single,
                                             c.view(), rows.size(), a.how);
                break;
            }
            case action_kind::renew_token:
                ++t.renewals;
                break;
            case action_kind::mark_uploaded:
                for (std::size_t i : a.rows) {
                    (a.already_on_server ? t.reconciled : t.uploaded).push_back(i);
                    std::erase(t.in_doubt, i);
                }
                break;
            case action_kind::mark_failed:
            case action_kind::forget_book:
            case action_kind::skip_book:
                t.failed.insert(t.failed.end(), a.rows.begin(), a.rows.end());
                t.errors.push_back(a.error);
                break;
            case action_kind::done:
                return t;
            case action_kind::stop:
                t.stopped = a;
                return t;
        }
        next = plan.resume(last);
    }
    FAIL("the plan did not finish");
    return t;
}

}  // namespace plan_test
