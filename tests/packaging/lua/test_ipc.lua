-- The plugin's IPC module against the real booklore-syncd.
-- Environment: BOOKLORE_SOCKET (a running daemon's socket), BOOKLORE_TEST_DIR (a scratch folder),
-- BOOKLORE_TIMING_EVENTS (events for the UI-time measurement, default 200).

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local json = require("json_min")
local ipc = require("booklore_ipc")
local ffi = require("ffi")

local socket_path = T.env("BOOKLORE_SOCKET")
local workdir = T.env("BOOKLORE_TEST_DIR")
local timing_events = tonumber(T.env("BOOKLORE_TIMING_EVENTS", "200"))

local client = ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode }
-- Generous limit for the functional cases: a CI machine under load must not make them flaky.
-- The UI budget (200 ms) is what the timing case measures against.
local SLOW_MS = 5000

local function request(msg)
    local reply, code, message = client:request(msg, SLOW_MS)
    T.ok(reply, "request " .. tostring(msg.type) .. " failed: " .. tostring(code) .. " " .. tostring(message))
    return reply
end

local function expect_ok(msg)
    local reply = request(msg)
    T.ok(reply.ok == true, msg.type .. " answered " .. json.encode(reply))
    return reply
end

local run_id = tostring(os.time()) .. "-" .. tostring(math.random(1e9))
local base_time = 1767225600 -- 2026-01-01T00:00:00Z

local function session(n, overrides)
    local s = {
        type = "session_end",
        book_hash = "0123456789ABCDEF0123456789abcdef",
        file_path = "/mnt/onboard/Books/Some Book.epub",
        title = "Some Book",
        book_type = "epub",
        start_time = base_time + n * 3600,
        end_time = base_time + n * 3600 + 600,
        duration_seconds = 600,
        start_progress = 10.5,
        end_progress = 12.25,
        start_location = "31",
        end_location = "39",
        event_id = "lua-" .. run_id .. "-" .. n,
    }
    for k, v in pairs(overrides or {}) do
        s[k] = v
    end
    return s
end

local initial

T.case("status answers with counts and the daemon's settings", function()
    initial = expect_ok { type = "status" }
    T.ok(type(initial.pending_sessions) == "number", "pending_sessions is a number")
    T.ok(type(initial.pending_deletions) == "number", "pending_deletions is a number")
    T.ok(type(initial.settings) == "table", "settings is an object")
end)

T.case("the request id is echoed", function()
    local reply = expect_ok { type = "status", id = "abc-1" }
    T.eq(reply.id, "abc-1", "id")
end)

local queue_id
T.case("session_end is queued, and a repeated event_id is a duplicate", function()
    local reply = expect_ok(session(1))
    T.eq(reply.queued, true, "queued")
    T.eq(reply.duplicate, false, "duplicate")
    T.ok(type(reply.queue_id) == "number" and reply.queue_id > 0, "queue_id")
    queue_id = reply.queue_id
    local again = expect_ok(session(1))
    T.eq(again.duplicate, true, "duplicate on the second send")
    T.eq(again.queue_id, queue_id, "same queue_id")
end)

T.case("ISO-8601 times are accepted too", function()
    local reply = expect_ok(session(2, { start_time = "2026-01-02T10:00:00Z", end_time = "2026-01-02T10:10:00Z" }))
    T.eq(reply.queued, true, "queued")
end)

T.case("a short session is answered too_short", function()
    local reply = expect_ok(session(3, { end_time = base_time + 3 * 3600 + 5, duration_seconds = 5 }))
    T.eq(reply.queued, false, "queued")
    T.eq(reply.reason, "too_short", "reason")
end)

T.case("book_deleted is queued", function()
    local reply = expect_ok { type = "book_deleted", file_path = "/mnt/onboard/Books/Gone.epub",
        book_hash = "fedcba9876543210fedcba9876543210", event_id = "lua-del-" .. run_id }
    T.eq(reply.queued, true, "queued")
end)

T.case("book_opened is accepted", function()
    expect_ok { type = "book_opened", file_path = "/mnt/onboard/Books/Some Book.epub",
        book_hash = "0123456789abcdef0123456789abcdef" }
end)

T.case("resume answers with the sync delay, suspend cancels it", function()
    local reply = expect_ok { type = "resume" }
    -- A number, or null where no resume sync is due (manual_sync_only).
    T.ok(type(reply.sync_in_seconds) == "number" or reply.sync_in_seconds == json.null,
        "sync_in_seconds: " .. json.encode(reply))
    expect_ok { type = "suspend" }
end)

T.case("network hints are accepted", function()
    expect_ok { type = "network_up" }
    expect_ok { type = "network_down" }
    expect_ok { type = "network_up" }
end)

T.case("status counts what was queued", function()
    local now = expect_ok { type = "status" }
    T.eq(now.pending_sessions, initial.pending_sessions + 2, "pending_sessions")
    T.eq(now.pending_deletions, initial.pending_deletions + 1, "pending_deletions")
end)

T.case("list_pending shows the session as sent", function()
    local reply = expect_ok { type = "list_pending", limit = 1000 }
    local found
    for _, row in ipairs(reply.sessions) do
        if row.id == queue_id then
            found = row
        end
    end
    T.ok(found, "session " .. tostring(queue_id) .. " listed")
    T.eq(found.book_hash, "0123456789abcdef0123456789abcdef", "book_hash stored lower-case")
    T.eq(found.title, "Some Book", "title")
    T.eq(found.duration_seconds, 600, "duration_seconds")
    local deleted = false
    for _, row in ipairs(reply.deletions) do
        if row.file_path == "/mnt/onboard/Books/Gone.epub" then
            deleted = true
        end
    end
    T.ok(deleted, "deletion listed")
end)

T.case("a bad request gets an error reply, not a hang", function()
    local reply = request { type = "session_end", file_path = "/x.epub" }
    T.eq(reply.ok, false, "ok")
    T.ok(type(reply.error) == "table" and type(reply.error.code) == "string", "error.code")
end)

T.case("an unknown type gets unknown_type", function()
    local reply = request { type = "no_such_request" }
    T.eq(reply.ok, false, "ok")
    T.eq(reply.error.code, "unknown_type", "error.code")
end)

T.case("set_settings is persisted and reported by status", function()
    local reply = expect_ok { type = "set_settings", ask_before_enabling_wifi = true }
    T.eq(reply.settings.ask_before_enabling_wifi, true, "settings in the reply")
    T.eq(expect_ok({ type = "status" }).settings.ask_before_enabling_wifi, true, "settings in status")
end)

T.case("subscribers get wifi_needed when a sync is due and the network is down", function()
    local sub, code, message = client:subscribe(SLOW_MS)
    T.ok(sub, "subscribe: " .. tostring(code) .. " " .. tostring(message))
    expect_ok { type = "network_down" }
    expect_ok { type = "sync_now", wait = false }
    local deadline = ipc.now_ms() + 10000
    local wifi_needed
    while not wifi_needed and ipc.now_ms() < deadline and sub.alive do
        for _, m in ipairs(sub:poll()) do
            if m.event == "wifi_needed" then
                wifi_needed = m
            end
        end
        if not wifi_needed then
            ffi.C.booklore_poll(nil, 0, 20)
        end
    end
    T.ok(wifi_needed, "wifi_needed arrived within 10 s")
    T.eq(wifi_needed.ask, true, "ask follows ask_before_enabling_wifi")
    T.ok(type(wifi_needed.message) == "string", "message")
    -- The answer goes over the subscription connection; its reply comes back through poll().
    T.ok(sub:send { type = "wifi_answer", enable = false, id = "answer" }, "send wifi_answer")
    local answered
    deadline = ipc.now_ms() + 5000
    while not answered and ipc.now_ms() < deadline and sub.alive do
        for _, m in ipairs(sub:poll()) do
            if m.id == "answer" then
                answered = m
            end
        end
        if not answered then
            ffi.C.booklore_poll(nil, 0, 20)
        end
    end
    T.ok(answered and answered.ok == true, "wifi_answer acknowledged")
    sub:close()
    T.eq(sub.alive, false, "closed")
    expect_ok { type = "set_settings", ask_before_enabling_wifi = false }
    expect_ok { type = "network_up" }
end)

T.case("no daemon: a missing socket fails at once with 'unavailable'", function()
    local gone = ipc.new { socket_path = workdir .. "/nobody-here.sock", encode = json.encode, decode = json.decode }
    local t0 = ipc.now_ms()
    local reply, code = gone:request { type = "status" }
    local elapsed = ipc.now_ms() - t0
    T.eq(reply, nil, "reply")
    T.eq(code, "unavailable", "code")
    T.ok(elapsed < 150, string.format("took %.1f ms", elapsed))
    local sub, sub_code = gone:subscribe()
    T.eq(sub, nil, "subscription")
    T.eq(sub_code, "unavailable", "subscription code")
end)

T.case("no daemon: a stale file at the socket path fails at once", function()
    local stale = workdir .. "/stale.sock"
    local f = assert(io.open(stale, "w"))
    f:close()
    local c = ipc.new { socket_path = stale, encode = json.encode, decode = json.decode }
    local t0 = ipc.now_ms()
    local reply, code = c:request { type = "status" }
    T.eq(reply, nil, "reply")
    T.eq(code, "unavailable", "code")
    T.ok(ipc.now_ms() - t0 < 150, "fast")
end)

T.case("a daemon that never answers costs at most the timeout", function()
    ffi.cdef [[
        int booklore_test_bind(int fd, const void *addr, unsigned int len) asm("bind");
        int booklore_test_listen(int fd, int backlog) asm("listen");
    ]]
    local path = workdir .. "/mute.sock"
    os.remove(path)
    local fd = ffi.C.booklore_socket(1, 1, 0)
    T.ok(fd >= 0, "socket")
    local addr = ffi.new("struct booklore_sockaddr_un")
    addr.sun_family = 1
    ffi.copy(addr.sun_path, path)
    T.eq(ffi.C.booklore_test_bind(fd, addr, ffi.sizeof(addr)), 0, "bind")
    T.eq(ffi.C.booklore_test_listen(fd, 4), 0, "listen")
    -- Nobody accepts or answers: the connection sits in the backlog.
    local mute = ipc.new { socket_path = path, encode = json.encode, decode = json.decode, timeout_ms = 200 }
    local t0 = ipc.now_ms()
    local reply, code = mute:request { type = "status" }
    local elapsed = ipc.now_ms() - t0
    ffi.C.booklore_close(fd)
    os.remove(path)
    T.eq(reply, nil, "reply")
    T.eq(code, "timeout", "code")
    T.ok(elapsed >= 190 and elapsed < 1000, string.format("took %.1f ms (limit 200)", elapsed))
end)

T.case(string.format("UI-thread time per event (%d session_end events)", timing_events), function()
    local before = expect_ok({ type = "status" }).pending_sessions
    local times = {}
    local ui_client = ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode }
    local late, refused = 0, 0
    for n = 1, timing_events do
        local msg = session(1000 + n)
        local t0 = ipc.now_ms()
        local reply, code = ui_client:request(msg)
        times[n] = ipc.now_ms() - t0
        if not reply then
            -- A reply later than the budget: the plugin gives up waiting, the daemon still queues.
            T.eq(code, "timeout", "why request " .. n .. " failed")
            late = late + 1
        elseif not (reply.ok and reply.queued) then
            refused = refused + 1
        end
    end
    table.sort(times)
    local function pct(p)
        return times[math.max(1, math.ceil(#times * p))]
    end
    io.write(string.format(
        "     figure: plugin UI time per event sent (connect+send+reply): median %.2f ms, p95 %.2f ms, max %.2f ms over %d events; %d replies later than the 200 ms budget\n",
        pct(0.5), pct(0.95), times[#times], #times, late))
    T.eq(refused, 0, "events refused")
    T.ok(times[#times] < 200 + 150, string.format("the 200 ms bound holds (max %.1f ms)", times[#times]))
    T.ok(pct(0.5) < 200, "median within the 200 ms budget")
    -- Every event reached the queue, including any whose reply came late.
    local deadline = ipc.now_ms() + 10000
    local now
    repeat
        now = expect_ok({ type = "status" }).pending_sessions
    until now >= before + timing_events or ipc.now_ms() > deadline
    T.eq(now, before + timing_events, "pending_sessions after the timing run")
end)

T.case("clear_pending needs confirm:true, then clears", function()
    local refused = request { type = "clear_pending" }
    T.eq(refused.ok, false, "ok without confirm")
    T.eq(refused.error.code, "confirmation_required", "error.code")
    local before = expect_ok { type = "status" }
    local reply = expect_ok { type = "clear_pending", confirm = true }
    T.eq(reply.cleared, before.pending_sessions, "cleared")
    T.eq(expect_ok({ type = "status" }).pending_sessions, 0, "pending_sessions after clearing")
end)

T.finish()
