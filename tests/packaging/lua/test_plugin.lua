-- The plugin driven through KOReader's events (koreader_stubs.lua) against the real booklore-syncd.
-- Environment: BOOKLORE_SOCKET, BOOKLORE_TEST_DIR.

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local F = require("plugin_fixture")
local K = F.K
local json = require("json_min")
local Hash = require("booklore_hash")

local socket_path = T.env("BOOKLORE_SOCKET")
local workdir = T.env("BOOKLORE_TEST_DIR")
local daemon = F.probe(socket_path)

K.settings_dir = workdir
K.settings.bookloresync = { socket_path = socket_path, auto_start = false }

local function pending_session(pred)
    for _, row in ipairs(daemon({ type = "list_pending", limit = 1000 }).sessions) do
        if pred(row) then return row end
    end
end

local Plugin = F.load_plugin()
local meta = dofile(T.plugin_dir .. "_meta.lua")
local fm -- the file manager's instance

T.case("_meta.lua has no name; the plugin has settings_key, stopPlugin, its menu and action", function()
    T.eq(meta.name, nil, "_meta.lua name (deprecated, pluginloader.lua:256-260)")
    T.eq(Plugin.settings_key, "bookloresync", "settings_key")
    T.eq(type(Plugin.stopPlugin), "function", "stopPlugin")
    fm = Plugin:new { ui = { menu = { registerToMainMenu = function() end } } }
    K.instances[#K.instances + 1] = fm
    T.eq(K.actions.booklore_sync_pending.event, "SyncBooklorePending", "dispatcher action")
    local items = {}
    fm:addToMainMenu(items)
    local names = {}
    for _, item in ipairs(items.bookloresync.sub_item_table) do names[#names + 1] = item.text end
    T.eq(items.bookloresync.sorting_hint, "tools", "under Tools")
    T.eq(table.concat(names, "|", 2), "Sync Now|Manage Sessions|Sync Settings|Service", "entries after Settings")
    T.eq(names[1], "Settings", "the Settings submenu from booklore_settings.lua comes first")
    local triggers = items.bookloresync.sub_item_table[4].sub_item_table_func()[2].sub_item_table
    T.eq(triggers[1].text, "Ask before enabling Wi-Fi", "spelled as KOReader spells it")
end)

T.case("the stubs are KOReader: template raises on luajson's null, allowStandby asserts", function()
    local template = require("ffi/util").template
    T.eq(type(json.decode("null")), "function", "null decodes to a function")
    T.ok(not pcall(template, "%1", json.decode("null")), "template raises on null")
    T.ok(not pcall(K.UIManager.allowStandby, K.UIManager), "allowStandby without preventStandby")
end)

T.case("View Details with nulls in the status reply does not raise", function()
    local text = F.private.menu.details_text()
    T.ok(text:find("Pending sessions:", 1, true), text)
end)

local book = F.make_book(workdir, "Stats Book.epub", 50000)
local book_hash = Hash.partial_md5(book)

T.case("page turns and a 10-minute idle page count what the statistics rule counts", function()
    local ui = F.make_ui(book, { title = "Stats Book", identifiers = "uuid:1234-5678\nisbn:978-0-306-40615-7" })
    local from = #F.sent + 1
    local reader = K.open_reader(Plugin, ui)
    K.advance(30); F.turn(ui, 2)   -- 30 s: counted
    K.advance(3); F.turn(ui, 3)    -- 3 s: under min_sec (5), not counted
    K.advance(600); F.turn(ui, 4)  -- 10 min idle: capped at max_sec (120)
    K.advance(40)                  -- 40 s on the last page, counted at close
    K.close_reader(reader)
    local sent = F.sent_of("session_end", from)[1]
    T.ok(sent, "session_end sent")
    T.eq(sent.duration_seconds, 30 + 0 + 120 + 40, "duration by the statistics rule")
    T.eq(sent.end_time - sent.start_time, 673, "wall time from open to close")
    T.eq(sent.start_location, "/body/DocFragment[1]/body/p[1]/text().0", "an xpointer for a reflowable book")
    T.eq(sent.end_location, "/body/DocFragment[4]/body/p[1]/text().0", "end xpointer")
    T.eq(sent.end_progress, 2, "getLastPercent as a percentage")
    T.eq(sent.isbn, "9780306406157", "ISBN from the metadata")
    local row = F.pump_until(function()
        return pending_session(function(r) return r.book_hash == book_hash and r.duration_seconds == 190 end)
    end, "the session in the daemon")
    T.eq(row.title, "Stats Book", "title")
    F.settle()
end)

T.case("the statistics plugin's own min_sec/max_sec apply when it is enabled", function()
    K.settings.statistics = { is_enabled = true, min_sec = 10, max_sec = 60 }
    local ui = F.make_ui(book, { paged = true, pages = 50 })
    local from = #F.sent + 1
    local reader = K.open_reader(Plugin, ui)
    K.advance(30); F.turn(ui, 2)
    K.advance(8); F.turn(ui, 3)
    K.advance(600); F.turn(ui, 4)
    K.advance(40)
    K.close_reader(reader)
    local sent = F.sent_of("session_end", from)[1]
    T.eq(sent.duration_seconds, 30 + 0 + 60 + 40, "duration with min 10, max 60")
    T.eq(sent.end_location, "4", "page number for a fixed-layout document")
    T.eq(sent.end_progress, 8, "percent")
    K.settings.statistics = { is_enabled = false, min_sec = 10, max_sec = 60 }
    T.eq(select(2, require("booklore_session").limits()), 120, "defaults when statistics is disabled")
    K.settings.statistics = nil
    F.settle()
end)

T.case("a reload (PreserveCurrentSession) keeps one session", function()
    local ui = F.make_ui(book, { page = 10 })
    local from = #F.sent + 1
    local reader = K.open_reader(Plugin, ui)
    K.advance(60); F.turn(ui, 11)
    reader = K.reload_reader(Plugin, reader, ui) -- e.g. a font change that needs a reload
    K.advance(60); F.turn(ui, 12)
    K.advance(60)
    K.close_reader(reader)
    local sessions = F.sent_of("session_end", from)
    T.eq(#sessions, 1, "one session across the reload")
    T.eq(sessions[1].duration_seconds, 180, "its time")
    F.settle()
end)

T.case("with nothing pending no task stays scheduled: 0 wake-ups in an idle hour", function()
    F.settle()
    local before = K.wakeups
    K.advance(3600)
    T.eq(K.wakeups - before, 0, "wake-ups in an idle hour")
    T.eq(K.standby_seconds(), math.huge, "AutoSuspend's standby is not cut short")
    T.eq(F.private.link.lane, nil, "no connection kept open")
end)

T.case("suspend ends the session quietly and leaves no task; resume starts a new one", function()
    local ui = F.make_ui(book, { page = 20 })
    local reader = K.open_reader(Plugin, ui)
    K.advance(200); F.turn(ui, 21)
    K.advance(100)
    local shown = #K.shown
    K.suspend()
    T.eq(K.pending_tasks(), 0, "no task while suspended")
    T.eq(#K.shown, shown, "nothing shown on the sleep screen")
    local before = K.wakeups
    K.advance(3600)
    T.eq(K.wakeups - before, 0, "no wake-up while asleep")
    K.resume()
    T.ok(reader.session and reader.session.start_location:find("DocFragment%[21%]"), "a new session from the current page")
    F.pump_until(function()
        return pending_session(function(r) return r.book_hash == book_hash and r.duration_seconds == 220 end)
    end, "the session before the suspend")
    F.pump_until(function()
        return #F.private.link.outbox:entries() == 0 and F.private.link.watch_from > os.time() + 5
    end, "the resume's reply (sync_in_seconds)")
    T.ok(K.standby_seconds() >= 10, "no polling during the daemon's resume delay: next wake-up in "
        .. K.standby_seconds() .. " s")
    K.close_reader(reader)
    F.settle()
end)

T.case("no daemon: nothing shown at suspend, told once later, the session arrives when it is back", function()
    F.settle()
    K.settings.bookloresync.socket_path = workdir .. "/no-daemon.sock"
    F.private.shared.warned = false
    local ui = F.make_ui(book, { page = 30 })
    local reader = K.open_reader(Plugin, ui)
    local shown = #K.shown
    K.advance(45); F.turn(ui, 31)
    K.advance(45)
    K.suspend()
    T.eq(#K.shown, shown, "nothing shown on the sleep screen")
    T.eq(K.pending_tasks(), 0, "no task while suspended, even with events waiting")
    K.resume()
    K.close_reader(reader)
    local notices = K.shown_of("InfoMessage", shown + 1)
    T.eq(#notices, 1, "told once, after the resume")
    T.eq(#F.private.link.outbox:entries(), 2, "both sessions wait in the outbox")
    K.settings.bookloresync.socket_path = socket_path
    F.pump_until(function() return #F.private.link.outbox:entries() == 0 end, "the retry to deliver them", 20)
    T.ok(pending_session(function(r) return r.book_hash == book_hash and r.duration_seconds == 90 end), "the session is in the daemon")
    F.settle()
end)

T.case("deletions: a file, a selection, and a folder in one pipelined write", function()
    local victim = F.make_book(workdir, "Deleted Book.epub", 9000)
    K.FileManager:deleteFile(victim, true)
    local a, b = F.make_book(workdir, "Sel A.epub", 100), F.make_book(workdir, "Sel B.pdf", 100)
    K.FileManager.selected_files = { [a] = true, [b] = true }
    K.FileManager:deleteSelectedFiles()
    local folder = workdir .. "/shelf"
    os.execute("mkdir -p '" .. folder .. "/sub'")
    local expected = { victim, a, b }
    for i = 1, 40 do
        expected[#expected + 1] = F.make_book(folder .. (i % 2 == 0 and "/sub" or ""), "Book " .. i .. ".epub", 64)
    end
    F.settle()
    local writes = F.writes
    K.FileManager:deleteFile(folder, false)
    T.eq(F.writes - writes, 1, "the folder's 40 deletions went out in one write")
    F.settle()
    local queued = {}
    for _, row in ipairs(daemon({ type = "list_pending", limit = 1000 }).deletions) do queued[row.file_path] = true end
    for _, path in ipairs(expected) do T.ok(queued[path], "deletion queued for " .. path) end
    T.eq(#F.private.link.outbox:entries(), 0, "the outbox is empty once the daemon answered")
end)

T.case("after a sync the plugin started ends, its tasks stop", function()
    daemon { type = "network_up" }
    local from = #K.shown + 1
    F.private.menu.sync_now()
    F.pump_until(function()
        for _, m in ipairs(K.shown_of("InfoMessage", from)) do
            if m.text:find("sessions uploaded", 1, true) then return m end
        end
    end, "the sync's result")
    F.settle("tasks to stop after the sync", 20)
end)

-- The Wi-Fi policy matrix: KOReader's "Action when Wi-Fi is off" × the daemon's ask.
local function wifi_case(policy, ask, expect)
    T.case(string.format("wifi_needed: policy %s, ask %s: %s", policy, tostring(ask), expect.what), function()
        K.settings.wifi_enable_action = policy
        K.settings.wifi_disable_action = "turn_off"
        K.radio, K.connected = false, false
        K.NetworkMgr.pending_connection, K.NetworkMgr._before_action_tripped = false, nil
        daemon { type = "set_settings", ask_before_enabling_wifi = ask }
        daemon { type = "network_down" }
        local shown, sent, on, off = #K.shown + 1, #F.sent + 1, K.turn_on_calls, K.turn_off_calls
        F.private.menu.sync_now()
        if expect.dialog then
            local box = F.pump_until(function() return K.shown_of("ConfirmBox", shown)[1] end, "the dialog")
            T.eq(box.koreader_prompt, expect.dialog == "koreader" or nil, "whose dialog")
            if expect.dialog == "ours" then
                T.ok(box.text:find("Enable Wi-Fi now?", 1, true), box.text)
                T.eq(box.flush_events_on_show, true, "flush_events_on_show")
                T.eq(box.dismissable, false, "not dismissable by a tap outside")
                T.eq(box.ok_text .. "/" .. box.cancel_text, "Confirm/Cancel", "buttons")
            end
            if expect.cancel then box.cancel_callback() else box.ok_callback() end
        end
        F.settle("the plugin to go quiet", 20)
        T.eq(K.turn_on_calls - on, expect.turned_on and 1 or 0, "Wi-Fi turned on")
        T.eq(#K.shown_of("ConfirmBox", shown) - (expect.dialog and 1 or 0), 0, "no second dialog")
        if expect.turned_on then
            T.eq(#F.sent_of("network_up", sent) > 0, true, "network_up sent")
            T.eq(K.turn_off_calls - off, 1, "afterWifiAction applied 'turn off' after the sync")
        end
        if expect.cancel then
            local answer = F.sent_of("wifi_answer", sent)[1]
            T.ok(answer and answer.enable == false, "wifi_answer {enable:false}")
        end
    end)
end
wifi_case("turn_on", false, { what = "turned on", turned_on = true })
wifi_case("turn_on", true, { what = "our dialog, then on", dialog = "ours", turned_on = true })
wifi_case("turn_on", true, { what = "Cancel leaves it off", dialog = "ours", cancel = true })
wifi_case("prompt", false, { what = "KOReader's prompt", dialog = "koreader", turned_on = true })
wifi_case("prompt", true, { what = "our dialog is the prompt", dialog = "ours", turned_on = true })
wifi_case("ignore", false, { what = "left off" })
wifi_case("ignore", true, { what = "left off, nothing asked" })

T.case("Cancel loses nothing: the sessions stay queued", function()
    T.ok(pending_session(function(r) return r.book_hash == book_hash end), "sessions still queued")
    daemon { type = "set_settings", ask_before_enabling_wifi = false }
end)

T.case("stopPlugin leaves no task and no connection", function()
    fm:onSyncBooklorePending()
    T.ok(K.pending_tasks() > 0, "listening for the sync")
    fm:stopPlugin()
    T.eq(K.pending_tasks(), 0, "no task")
    T.eq(F.private.link.lane, nil, "no connection")
    F.private.link.resume()
end)

T.finish()
