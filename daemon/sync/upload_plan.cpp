#include "daemon/sync/upload_plan.hpp"

#include <algorithm>

namespace booklore::syncd::sync {

upload_plan::upload_plan(server_view& view, std::int64_t book_id, std::vector<plan_row> rows)
    : view_(view),
      book_id_(book_id),
      rows_(std::move(rows)),
      state_(rows_.size(), row_state::pending),
      marked_(rows_.size(), false),
      may_be_stored_(rows_.size(), false),
      matched_(rows_.size(), false) {
    for (std::size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i].in_doubt) {
            state_[i] = row_state::in_doubt;
            marked_[i] = may_be_stored_[i] = true;
        }
}

std::vector<std::size_t> upload_plan::rows_in(row_state s) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < rows_.size(); ++i)
        if (state_[i] == s)
            out.push_back(i);
    return out;
}

std::vector<std::size_t> upload_plan::unsettled() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < rows_.size(); ++i)
        if (state_[i] != row_state::settled)
            out.push_back(i);
    return out;
}

std::vector<std::size_t> upload_plan::surely_not_stored(const std::vector<std::size_t>& rows) {
    std::vector<std::size_t> out;
    for (std::size_t i : rows)
        if (marked_[i] && !may_be_stored_[i]) {
            out.push_back(i);
            marked_[i] = false;
        }
    return out;
}

std::string upload_plan::book_text() const {
    return "book " + std::to_string(book_id_);
}

action upload_plan::resume(const outcome& last) {
    if (!queued_.empty() && last.kind == outcome_kind::done) {
        action a = std::move(queued_.front());
        queued_.pop_front();
        return a;
    }
    switch (stage_) {
        case stage::start: {
            if (rows_in(row_state::in_doubt).empty() || view_.no_reconcile) {
                if (view_.no_reconcile)
                    send_without_reconcile();
                return next_send();
            }
            stage_ = stage::reconciling;
            return reconcile_page();
        }
        case stage::reconciling:
            // A GET carries no rows: whatever went wrong, nothing new is in doubt.
            return stopped_by(last, false);
        case stage::sending:
            return next_send();
        case stage::renewing:
            return resend();
        case stage::awaiting:
            return after_answer(last);
        case stage::finished:
            break;
    }
    return {};
}

action upload_plan::reconcile_page() {
    action a;
    a.kind = action_kind::reconcile;
    a.how = view_.list_auth;
    a.page = page_;
    a.page_size = page_size;
    return a;
}

action upload_plan::resume(const session_page& page) {
    switch (page.what) {
        case session_page::kind::page:
            break;
        case session_page::kind::needs_bearer:
            if (view_.has_booklore_account && view_.list_auth == credentials::koreader) {
                view_.list_auth = credentials::bearer;
                return reconcile_page();
            }
            view_.no_reconcile = "the server lets only a BookLore account read its sessions (" +
                                 page.detail + "); set booklore_username and booklore_password";
            send_without_reconcile();
            return next_send();
        case session_page::kind::unreadable:
            view_.no_reconcile =
                "the server's list of sessions cannot be read (" + page.detail + ")";
            send_without_reconcile();
            return next_send();
        case session_page::kind::book_not_found:
            // A book the server does not have holds none of our sessions.
            std::fill(may_be_stored_.begin(), may_be_stored_.end(), false);
            return give_up_book(action_kind::forget_book, page.detail);
        case session_page::kind::server_problem:
            return stop(stop_reason::server_problem, server_problem_text(page.detail), false);
    }
    auto doubt = rows_in(row_state::in_doubt);
    std::string oldest = rows_[doubt.front()].start_time;
    for (std::size_t i : doubt)
        oldest = std::min(oldest, rows_[i].start_time);
    for (const auto& item : page.items) {
        if (!seen_ids_.insert(item.id).second)
            continue;  // a tie at a page boundary shows the same session twice
        for (std::size_t i : doubt) {
            const auto& r = rows_[i];
            if (!matched_[i] && r.start_time == item.start_time && r.end_time == item.end_time &&
                r.duration_seconds == item.duration_seconds) {
                matched_[i] = true;
                break;
            }
        }
    }
    // Newest first: once a page ends before the oldest row in doubt, older pages cannot hold
    // any of them.
    bool covered = page.items.empty() || page.number + 1 >= page.total_pages ||
                   page.items.back().start_time < oldest;
    if (!covered) {
        ++page_;
        return reconcile_page();
    }
    action found;
    found.kind = action_kind::mark_uploaded;
    found.already_on_server = true;
    for (std::size_t i : doubt) {
        if (matched_[i]) {
            state_[i] = row_state::settled;
            found.rows.push_back(i);
        } else {
            state_[i] = row_state::pending;
            may_be_stored_[i] = false;  // the server's own list says it does not hold it
            marked_[i] = false;         // its next request marks it anew, with that time
        }
    }
    stage_ = stage::sending;
    if (found.rows.empty())
        return next_send();
    return found;
}

void upload_plan::send_without_reconcile() {
    // At least once: the rows are sent again and stay in doubt until an answer settles them.
    for (std::size_t i : rows_in(row_state::in_doubt)) {
        state_[i] = row_state::pending;
        marked_[i] = false;  // marked anew when sent: the time is that of the new request
    }
    stage_ = stage::sending;
}

action upload_plan::next_send() {
    auto pending = rows_in(row_state::pending);
    if (pending.empty()) {
        stage_ = stage::finished;
        return {};
    }
    renewed_ = false;
    tried_.clear();
    batch_in_flight_ = view_.batch_usable && !singles_;
    in_flight_ = batch_in_flight_ ? pending : std::vector<std::size_t>{pending.front()};
    action a = resend();
    // Single posts mark the whole rest at once: one durable write instead of one per row.
    for (std::size_t i : pending)
        if (!marked_[i]) {
            marked_[i] = true;
            a.mark_doubt.push_back(i);
        }
    return a;
}

action upload_plan::resend() {
    stage_ = stage::awaiting;
    action a;
    a.kind = batch_in_flight_ ? action_kind::send_batch : action_kind::send_single;
    a.rows = in_flight_;
    a.how = batch_in_flight_ ? view_.batch_auth : view_.single_auth;
    return a;
}

action upload_plan::queue_or_next(std::vector<action> steps) {
    for (auto& s : steps)
        if (!s.rows.empty() || s.kind == action_kind::stop)
            queued_.push_back(std::move(s));
    if (queued_.empty())
        return next_send();
    return resume(outcome{});
}

action upload_plan::after_answer(const outcome& last) {
    const auto rows = in_flight_;
    auto settle = [&](const std::vector<std::size_t>& which) {
        for (std::size_t i : which)
            state_[i] = row_state::settled;
    };
    auto failed = [&](std::vector<std::size_t> which, std::string error) {
        action a;
        a.kind = action_kind::mark_failed;
        a.clear_doubt = surely_not_stored(which);
        a.rows = std::move(which);
        a.error = std::move(error);
        return a;
    };
    stage_ = stage::sending;
    switch (last.kind) {
        case outcome_kind::stored: {
            settle(rows);
            view_.failures_in_a_row = 0;
            action a;
            a.kind = action_kind::mark_uploaded;
            a.rows = rows;
            return a;
        }
        case outcome_kind::partial: {
            if (last.item_stored.size() != rows.size())
                return after_answer({outcome_kind::unknown_outcome, {}, last.detail});
            action ok;
            ok.kind = action_kind::mark_uploaded;
            std::vector<std::size_t> bad;
            for (std::size_t k = 0; k < rows.size(); ++k)
                (last.item_stored[k] ? ok.rows : bad).push_back(rows[k]);
            settle(rows);
            view_.failures_in_a_row = 0;
            return queue_or_next(
                {ok, failed(bad, "the server did not store this session (" + last.detail + ")")});
        }
        case outcome_kind::rejected:
            if (batch_in_flight_ && rows.size() > 1) {
                // One bad session must not hold back the others: send them one by one.
                singles_ = true;
                return next_send();
            }
            settle(rows);
            return failed(rows, "the server refused this session (" + last.detail + ")");
        case outcome_kind::needs_bearer:
        case outcome_kind::token_refused:
        case outcome_kind::bearer_not_accepted:
            return refused(last);
        case outcome_kind::forbidden_book:
            return give_up_book(action_kind::skip_book, last.detail);
        case outcome_kind::book_not_found:
            std::fill(may_be_stored_.begin(), may_be_stored_.end(), false);
            return give_up_book(action_kind::forget_book, last.detail);
        case outcome_kind::no_batch_endpoint:
            view_.batch_usable = false;
            return next_send();
        case outcome_kind::server_error: {
            // A 5xx may come after the insert: the rows stay in doubt.
            for (std::size_t i : rows)
                may_be_stored_[i] = true;
            settle(rows);
            action a = failed(rows, last.detail);
            a.mark_doubt = rows;  // with the time of the answer: the server had it until then
            if (++view_.failures_in_a_row < max_failures_in_a_row)
                return a;
            return queue_or_next({a, stop(stop_reason::server_failing,
                                          "the server keeps failing: " + last.detail, true)});
        }
        case outcome_kind::unknown_outcome: {
            for (std::size_t i : rows)
                may_be_stored_[i] = true;
            settle(rows);
            action a = failed(rows, "no answer from the server: " + last.detail);
            a.mark_doubt = rows;  // with the time it gave up: the server may still be at work
            return queue_or_next({a, stopped_by(last, true)});
        }
        default:
            return stopped_by(last, false);
    }
}

action upload_plan::stopped_by(const outcome& last, bool reached) {
    auto [reason, error] = explain_stop(last);
    return stop(reason, std::move(error), reached && reason == stop_reason::unreachable);
}

std::pair<stop_reason, std::string> explain_stop(const outcome& last) {
    switch (last.kind) {
        case outcome_kind::wait_requested:
            return {stop_reason::wait_requested,
                    "the server asked us to wait (" + last.detail + ")"};
        case outcome_kind::account_unlinked:
            return {stop_reason::account_unlinked,
                    "the KOReader account is not linked to a BookLore user (" + last.detail +
                        "); link it in BookLore under Settings, Devices, KOReader"};
        case outcome_kind::server_problem:
            return {stop_reason::server_problem, server_problem_text(last.detail)};
        case outcome_kind::login_refused:
            return {stop_reason::login_refused,
                    "BookLore refused the login of booklore_username (" + last.detail +
                        "); fix booklore_username or booklore_password. Automatic syncs do "
                        "not log in again until the settings change or you sync manually"};
        case outcome_kind::login_rate_limited:
            return {stop_reason::login_rate_limited,
                    "BookLore has locked the login after too many failures (" + last.detail +
                        "); wait 15 minutes, then sync manually"};
        default:
            return {stop_reason::unreachable, "cannot reach the server: " + last.detail};
    }
}

action upload_plan::refused(const outcome& last) {
    const credentials used = batch_in_flight_ ? view_.batch_auth : view_.single_auth;
    if (last.kind == outcome_kind::token_refused && !renewed_) {
        // Tokens expire (2 h on Grimmory): one fresh login, then the same request again.
        renewed_ = true;
        stage_ = stage::renewing;
        action a;
        a.kind = action_kind::renew_token;
        return a;
    }
    tried_.insert(used);
    const credentials other =
        used == credentials::koreader ? credentials::bearer : credentials::koreader;
    if (!tried_.contains(other) && (other == credentials::koreader || view_.has_booklore_account)) {
        (batch_in_flight_ ? view_.batch_auth : view_.single_auth) = other;
        return resend();
    }
    if (batch_in_flight_) {
        view_.batch_usable = false;
        return next_send();
    }
    if (used == credentials::koreader && !view_.has_booklore_account)
        return stop(stop_reason::needs_login,
                    "the server takes sessions only from a BookLore account (" + last.detail +
                        "); set booklore_username and booklore_password",
                    false);
    return stop(stop_reason::credentials_refused,
                "the server refused our credentials for the session upload (" + last.detail +
                    "); check username and password (the KOReader account) and "
                    "booklore_username and booklore_password",
                false);
}

action upload_plan::give_up_book(action_kind kind, const std::string& detail) {
    action a;
    a.kind = kind;
    a.rows = unsettled();
    a.clear_doubt = surely_not_stored(a.rows);
    a.error = kind == action_kind::skip_book
                  ? "the server does not let this account upload to " + book_text() + " (" +
                        detail + "); the other books go on"
                  : "the server has no " + book_text() + " (" + detail +
                        "); it will be matched again by hash or ISBN";
    for (std::size_t i : a.rows)
        state_[i] = row_state::settled;
    stage_ = stage::finished;
    return a;
}

action upload_plan::stop(stop_reason reason, std::string error, bool request_reached_server) {
    if (request_reached_server)
        for (std::size_t i : in_flight_)
            may_be_stored_[i] = true;
    action a;
    a.kind = action_kind::stop;
    a.reason = reason;
    a.error = std::move(error);
    a.clear_doubt = surely_not_stored(unsettled());
    stage_ = stage::finished;
    return a;
}

std::string server_problem_text(const std::string& detail) {
    return "the server answered " + detail +
           " where the BookLore API should be; check server_url (behind a reverse proxy it "
           "needs the proxy's base path, e.g. https://host/booklore)";
}

}  // namespace booklore::syncd::sync
