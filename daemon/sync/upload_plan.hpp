#pragma once

#include "daemon/sync/server_answer.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace booklore::syncd::sync {

/// What one run has learned about the server. Every book's plan in the run reads and updates
/// it; the shell seeds it from what earlier runs remembered and stores what changed (which
/// endpoint wants Bearer, whether there is a batch endpoint).
struct server_view {
    bool has_booklore_account = false;
    bool batch_usable = true;
    credentials batch_auth = credentials::koreader;
    credentials single_auth = credentials::koreader;
    /// GET /api/v1/reading-sessions/book/{id}: Bearer where there is an account (every
    /// profile), else KOReader headers (only W takes them).
    credentials list_auth = credentials::koreader;
    /// Set when that list cannot be read: rows in doubt are then sent again (at least once).
    std::optional<std::string> no_reconcile;
    int failures_in_a_row = 0;
};

/// The facts of a queued row the plan decides on.
struct plan_row {
    std::string start_time;
    std::string end_time;
    std::int64_t duration_seconds = 0;
    /// A request carrying it may have been stored (reply lost, timeout, killed in flight).
    bool in_doubt = false;
};

enum class action_kind {
    reconcile,      ///< read page `page` of the book's sessions on the server, with `how`
    send_batch,     ///< POST `rows` as one batch, with `how`
    send_single,    ///< POST the one row in `rows`, with `how`
    renew_token,    ///< drop the Bearer token: the next Bearer request logs in again
    mark_uploaded,  ///< move `rows` to historical_sessions
    mark_failed,    ///< retry_count + 1 and last_error = `error` on `rows`
    forget_book,    ///< the server has no such book: forget its id; `rows` failed with `error`
    skip_book,      ///< the book waits for the next run; `rows` failed with `error`
    done,           ///< every row of this plan is settled for this run
    stop,           ///< the run ends with `error`
};

enum class stop_reason {
    none,
    unreachable,         ///< no answer; rows whose request may have arrived stay in doubt
    server_problem,      ///< a wrong server_url or a proxy: nothing forgotten or marked done
    wait_requested,      ///< 429/503
    needs_login,         ///< the server wants Bearer and no BookLore account is set
    login_refused,       ///< remembered: automatic runs do not log in again
    login_rate_limited,  ///< the server locked the login for now
    credentials_refused,
    account_unlinked,
    server_failing,  ///< several server errors in a row
};

struct action {
    action_kind kind = action_kind::done;
    /// Indexes into the plan's rows.
    std::vector<std::size_t> rows;
    /// Make these rows in doubt, durably, with the time now: before a send_* leaves, and
    /// again when its answer did not come.
    std::vector<std::size_t> mark_doubt;
    /// The server surely does not hold these: they are no longer in doubt.
    std::vector<std::size_t> clear_doubt;
    credentials how = credentials::koreader;
    std::int64_t page = 0;
    std::int64_t page_size = 0;
    /// mark_uploaded after reconciliation: the server had them from an earlier request.
    bool already_on_server = false;
    stop_reason reason = stop_reason::none;
    std::string error;
};

/// The upload of one book's batch as a state machine without I/O, in the manner of
/// Boost.Redis's run_fsm: the shell performs each returned action and hands the result to
/// the next resume() (`outcome_kind::done` after a storage action).
class upload_plan {
public:
    /// Page size for reading the server's sessions: the largest G, A and B accept.
    static constexpr std::int64_t page_size = 100;
    /// A run stops after this many server errors in a row.
    static constexpr int max_failures_in_a_row = 3;

    upload_plan(server_view& view, std::int64_t book_id, std::vector<plan_row> rows);

    /// The first action (pass a default outcome), or the next one after `last`.
    action resume(const outcome& last);
    /// After a `reconcile` action: the page read (or why it could not be read).
    action resume(const session_page& page);

    const std::vector<plan_row>& rows() const { return rows_; }

private:
    enum class row_state { pending, in_doubt, settled };
    enum class stage { start, reconciling, sending, renewing, awaiting, finished };

    action reconcile_page();
    action next_send();
    action resend();
    action after_answer(const outcome& last);
    action refused(const outcome& last);
    action stopped_by(const outcome& last, bool request_reached_server);
    action give_up_book(action_kind kind, const std::string& detail);
    action stop(stop_reason reason, std::string error, bool request_reached_server);
    /// Queues the steps that have rows (and a stop) and returns the first.
    action queue_or_next(std::vector<action> steps);
    void send_without_reconcile();

    std::vector<std::size_t> rows_in(row_state s) const;
    std::vector<std::size_t> unsettled() const;
    /// Those of `rows` marked in doubt that the server surely does not hold; unmarks them.
    std::vector<std::size_t> surely_not_stored(const std::vector<std::size_t>& rows);
    std::string book_text() const;

    server_view& view_;
    std::int64_t book_id_;
    std::vector<plan_row> rows_;
    std::vector<row_state> state_;
    std::vector<bool> marked_;         ///< durably in doubt in the queue
    std::vector<bool> may_be_stored_;  ///< a request carrying it may have been stored
    std::vector<bool> matched_;        ///< found in the server's list while reconciling
    stage stage_ = stage::start;
    bool singles_ = false;          ///< this book's rows go one by one (a 400 on the batch)
    bool batch_in_flight_ = false;  ///< the request in flight is a batch
    bool renewed_ = false;          ///< the token was renewed for the request in flight
    std::set<credentials> tried_;   ///< credentials refused for the request in flight
    std::vector<std::size_t> in_flight_;
    std::set<std::int64_t> seen_ids_;
    std::int64_t page_ = 0;
    std::deque<action> queued_;
};

/// Why a run stops after an outcome that ends it (no answer, a wait, a refused login, ...),
/// with a message that says what to change.
std::pair<stop_reason, std::string> explain_stop(const outcome& last);

/// The last_error of a run stopped by a wrong base path or a proxy.
std::string server_problem_text(const std::string& detail);

}  // namespace booklore::syncd::sync
