-- Never lose a session: events that end while the daemon is stopped, or while it answers
-- `unavailable`, survive a KOReader restart and reach the daemon's database exactly once.
-- Environment: BOOKLORE_DAEMON (the booklore-syncd binary), BOOKLORE_TEST_DIR (a scratch folder).

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local F = require("plugin_fixture")
local K = F.K
local ipc = require("booklore_ipc")
local Hash = require("booklore_hash")

local daemon_bin = T.env("BOOKLORE_DAEMON")
local dir = T.env("BOOKLORE_TEST_DIR")
local socket_path = dir .. "/outbox.sock"
local config = dir .. "/outbox.json"
local MAX_CONNECTIONS = 3

local f = assert(io.open(config, "w"))
f:write(string.format('{"server_url": "http://127.0.0.1:9", "database": "%s/outbox.sqlite", "socket": "%s", "max_connections": %d}\n',
    dir, socket_path, MAX_CONNECTIONS))
f:close()
os.execute("chmod 600 '" .. config .. "'")

local function start_daemon()
    os.execute(string.format("'%s' --config '%s' </dev/null >>'%s/outbox-daemon.log' 2>&1 & echo $! >'%s/outbox.pid'",
        daemon_bin, config, dir, dir))
    -- The plugin's tasks do not run meanwhile: the test decides when it may reach the daemon.
    F.wait_until(function() return require("libs/libkoreader-lfs").attributes(socket_path, "mode") == "socket" end,
        "the daemon's socket", 20)
end

local function stop_daemon()
    local pid = io.open(dir .. "/outbox.pid"):read("*l")
    os.execute("kill -TERM " .. pid)
    F.pump_until(function() return os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= 0 end, "the daemon to exit", 20)
    os.remove(dir .. "/outbox.pid") -- stopped: nothing left for lib.sh's cleanup to look for
end

K.settings_dir = dir
K.settings.bookloresync = { socket_path = socket_path, auto_start = false }
local Plugin = F.load_plugin()
local book = F.make_book(dir, "Outbox Book.epub", 30000)
local book_hash = Hash.partial_md5(book)

local function read_session()
    local ui = F.make_ui(book, { title = "Outbox Book" })
    local reader = K.open_reader(Plugin, ui)
    for page = 2, 4 do
        K.advance(20)
        F.turn(ui, page)
    end
    K.close_reader(reader)
    K.advance(60)
end

local function outbox_count()
    return #F.private.link.outbox:entries()
end

T.case("daemon stopped: 20 sessions and 3 deletions wait in the outbox", function()
    local shown = #K.shown
    for _ = 1, 20 do read_session() end
    for i = 1, 3 do K.FileManager:deleteFile(F.make_book(dir, "Gone " .. i .. ".pdf", 100), true) end
    T.eq(outbox_count(), 23, "events in the outbox")
    local notices = K.shown_of("InfoMessage", shown + 1)
    T.eq(#notices, 1, "the user is told once")
    T.ok(notices[1].text:find("kept on this reader", 1, true), notices[1].text)
    local before = K.wakeups
    K.advance(3600)
    local wakeups = K.wakeups - before
    io.write(string.format("     figure: wake-ups in an hour with 23 events waiting and no daemon: %d\n", wakeups))
    T.ok(wakeups > 0 and wakeups <= 20, "retries back off: " .. wakeups .. " wake-ups in an hour")
end)

local held = {}
T.case("daemon up but refusing (unavailable): 5 more sessions wait too", function()
    start_daemon()
    -- Every connection the daemon allows, taken (and answered, so surely accepted) by others.
    local json = require("json_min")
    local other = ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode }
    for i = 1, MAX_CONNECTIONS do
        held[i] = assert(other:subscribe(2000))
        local answer = F.wait_until(function() return held[i]:poll()[1] end, "the subscription's answer")
        T.ok(answer.ok, "connection " .. i .. " taken")
    end
    -- One more connection is refused: the daemon writes its error and closes (read without
    -- writing anything, so that no reset can eat the line).
    local fd = assert(ipc.connect(socket_path, ipc.now_ms() + 1000))
    local got = ""
    F.wait_until(function()
        local data = ipc.recv_now(fd)
        got = got .. (data or "")
        return data == nil or got:find("\n", 1, true)
    end, "the refusal")
    ipc.close_fd(fd)
    T.ok(got:find('"unavailable"', 1, true), "the daemon answers unavailable: " .. got)
    for _ = 1, 5 do read_session() end
    F.pump_until(function() return F.private.link.lane == nil end, "the refusal to arrive")
    T.eq(outbox_count(), 28, "events in the outbox")
end)

T.case("KOReader restarted, the daemon back: all 28 reach the database exactly once", function()
    -- The old process is gone: its tasks and its connections with it.
    F.private.link.stop()
    K.UIManager._task_queue, K.instances = {}, {}
    Plugin = F.load_plugin()
    local fm = Plugin:new { ui = { menu = { registerToMainMenu = function() end } } }
    K.instances[1] = fm
    T.eq(outbox_count(), 28, "the outbox read back after the restart")
    for _, sub in ipairs(held) do sub:close() end
    F.pump_until(function() return outbox_count() == 0 end, "the outbox to empty", 60)
    F.settle()
    local probe = F.probe(socket_path)
    local pending = probe { type = "list_pending", limit = 1000 }
    local sessions, starts = 0, {}
    for _, row in ipairs(pending.sessions) do
        if row.book_hash == book_hash then
            sessions = sessions + 1
            starts[row.id] = true
        end
    end
    T.eq(sessions, 25, "sessions in the database")
    T.eq(#pending.deletions, 3, "deletions in the database")
    local sqlite = io.popen(string.format("sqlite3 '%s/outbox.sqlite' 'SELECT count(*) - count(DISTINCT event_id) FROM pending_sessions' 2>/dev/null", dir))
    local dupes = sqlite:read("*l")
    sqlite:close()
    if dupes then T.eq(dupes, "0", "no event_id twice") end
end)

stop_daemon()
T.finish()
