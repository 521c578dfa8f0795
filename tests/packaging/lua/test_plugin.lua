-- The plugin's main.lua, driven through KOReader-like events against the real booklore-syncd.
-- KOReader itself is replaced by koreader_stubs.lua. Environment as for test_ipc.lua.

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local K = require("koreader_stubs")
local json = require("json_min")
local ipc = require("booklore_ipc")
local Hash = require("booklore_hash")

local socket_path = T.env("BOOKLORE_SOCKET")
local workdir = T.env("BOOKLORE_TEST_DIR")

K.settings.bookloresync = { socket_path = socket_path, auto_start = false }

local probe = ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode, timeout_ms = 5000 }
local function daemon(msg)
    local reply, code, message = probe:request(msg)
    T.ok(reply and reply.ok, msg.type .. ": " .. tostring(code) .. " " .. tostring(message) .. " " .. (reply and json.encode(reply) or ""))
    return reply
end

local function find_pending(pred)
    for _, row in ipairs(daemon({ type = "list_pending", limit = 1000 }).sessions) do
        if pred(row) then return row end
    end
end

local function make_book(name, size)
    local path = workdir .. "/" .. name
    local f = assert(io.open(path, "wb"))
    local bytes = {}
    for i = 0, size - 1 do bytes[#bytes + 1] = string.char((i * 13 + 5) % 256) end
    f:write(table.concat(bytes))
    f:close()
    return path
end

local Plugin = dofile(T.plugin_dir .. "main.lua")
local private = Plugin._private

-- A reader with a paged document at page `page` of 200.
local page = 20
local book = make_book("A Test Book.epub", 50000)
local book_hash = Hash.partial_md5(book)
local registered_menu
local ui = {
    menu = { registerToMainMenu = function(_, p) registered_menu = p end },
    document = {
        file = book,
        getPageCount = function() return 200 end,
        getCurrentPage = function() return page end,
    },
    doc_settings = { readSetting = function() return nil end },
    doc_props = { display_title = "A Test Book" },
}

local plugin
T.case("the plugin loads, registers its menu and the dispatcher action", function()
    plugin = Plugin:new { ui = ui }
    T.ok(registered_menu == plugin, "registered to the main menu")
    local action = K.actions.booklore_sync_pending
    T.ok(action, "dispatcher action registered")
    T.eq(action.event, "SyncBooklorePending", "action event")
    T.ok(type(plugin.onSyncBooklorePending) == "function", "handler for the action")
end)

T.case("the menu is Tools → BookLore Sync with the documented entries", function()
    local items = {}
    plugin:addToMainMenu(items)
    local top = items.bookloresync
    T.eq(top.sorting_hint, "tools", "under Tools")
    T.eq(top.text, "BookLore Sync", "title")
    local names = {}
    for _, item in ipairs(top.sub_item_table) do names[#names + 1] = item.text end
    T.eq(table.concat(names, "|"), "Sync Now|Manage Sessions|Sync Settings|Service", "entries")
    local manage = top.sub_item_table[2].sub_item_table
    T.eq(manage[1].text .. "|" .. manage[2].text, "View Details|Clear Pending", "Manage Sessions entries")
    local settings = top.sub_item_table[3].sub_item_table_func()
    T.eq(settings[1].text, "Manual Sync Only", "first sync setting")
    T.eq(settings[2].text, "Sync Triggers", "second sync setting")
    T.eq(settings[2].sub_item_table[1].text, "Ask before enabling WiFi", "trigger setting")
end)

T.case("open → read → close queues one session with the documented fields", function()
    plugin:onReaderReady()
    K.clock = K.clock + 600
    page = 30
    plugin:onCloseDocument()
    local row = find_pending(function(r) return r.book_hash == book_hash end)
    T.ok(row, "session with the book's partial MD5 queued")
    T.eq(row.title, "A Test Book", "title")
    T.eq(row.duration_seconds, 600, "duration")
end)

T.case("suspend ends the session, resume starts a new one", function()
    page = 31
    plugin:onResume()          -- a new session from the open document
    K.clock = K.clock + 120
    page = 35
    plugin:onSuspend()         -- ends it
    T.eq(#K.tasks, 0, "no subscription polling while suspended")
    local row = find_pending(function(r) return r.book_hash == book_hash and r.duration_seconds == 120 end)
    T.ok(row, "the session before the suspend is queued")
    K.clock = K.clock + 3600
    plugin:onResume()
    T.ok(#K.tasks > 0, "polling again after resume")
    K.clock = K.clock + 10
    plugin:onCloseDocument()   -- 10 s: too short for the daemon, which says so; nothing breaks
    T.ok(not find_pending(function(r) return r.duration_seconds == 10 end), "short session not queued")
end)

T.case("a file-manager deletion is sent as book_deleted with the fingerprint", function()
    local victim = make_book("Deleted Book.epub", 9000)
    local hash = Hash.partial_md5(victim)
    K.FileManager:deleteFile(victim, true)
    T.ok(not io.open(victim, "rb"), "the file is gone")
    local found
    for _, row in ipairs(daemon({ type = "list_pending", limit = 1000 }).deletions) do
        if row.file_path == victim then found = row end
    end
    T.ok(found, "deletion queued for " .. victim)
    T.ok(hash and #hash == 32, "hash computed")
end)

T.case("a multi-selection deletion is sent for each book", function()
    local a, b = make_book("Sel A.epub", 100), make_book("Sel B.pdf", 100)
    K.FileManager.selected_files = { [a] = true, [b] = true }
    K.FileManager:deleteSelectedFiles()
    local seen = {}
    for _, row in ipairs(daemon({ type = "list_pending", limit = 1000 }).deletions) do seen[row.file_path] = true end
    T.ok(seen[a] and seen[b], "both deletions queued")
end)

local function poll_until(pred, what)
    local deadline = ipc.now_ms() + 10000
    while ipc.now_ms() < deadline do
        K.run_tasks()
        if #K.tasks == 0 then private.poll_tick() end
        local v = pred()
        if v then return v end
        probe:request({ type = "status" })  -- a short pause that also gives the daemon a turn
    end
    error("timed out waiting for " .. what)
end

T.case("wifi_needed with ask=true shows the seed's dialog; Cancel answers enable:false", function()
    K.clock = K.clock + 3600  -- let the plugin (re)subscribe
    local settings = plugin:syncSettingsMenu()
    if not private.shared.daemon_settings.ask_before_enabling_wifi then
        settings[2].sub_item_table[1].callback()
    end
    T.eq(daemon({ type = "status" }).settings.ask_before_enabling_wifi, true, "setting changed through the menu")
    poll_until(function() return private.shared.subscription and private.shared.subscription.alive end, "subscription")
    daemon { type = "network_down" }
    local from = #K.shown + 1
    plugin:onSyncBooklorePending()
    local started = K.shown_of("InfoMessage", from)
    T.ok(#started == 1 and started[1].text:find("sync started", 1, true), "Sync Now acknowledged")
    local box = poll_until(function() return K.shown_of("ConfirmBox", from)[1] end, "the WiFi dialog")
    T.ok(box.text:find("Enable WiFi now?", 1, true), "dialog title: " .. box.text)
    T.ok(box.text:find("A sync is ready to run. Enable WiFi to upload pending sessions?", 1, true), "dialog text")
    T.eq(box.ok_text, "Confirm", "confirm button")
    T.eq(box.cancel_text, "Cancel", "cancel button")
    box.cancel_callback()
    T.eq(K.wifi_enabled, 0, "WiFi left alone on Cancel")
end)

T.case("wifi_needed with ask=false enables WiFi directly", function()
    local settings = plugin:syncSettingsMenu()
    settings[2].sub_item_table[1].callback()
    T.eq(daemon({ type = "status" }).settings.ask_before_enabling_wifi, false, "setting changed back")
    daemon { type = "network_down" }
    local from = #K.shown + 1
    daemon { type = "sync_now", wait = false }
    poll_until(function() return K.wifi_enabled > 0 end, "WiFi to be enabled")
    T.eq(#K.shown_of("ConfirmBox", from), 0, "no dialog")
    plugin:onNetworkConnected()
end)

T.case("Manual Sync Only toggles the daemon's setting", function()
    local settings = plugin:syncSettingsMenu()
    local before = settings[1].checked_func()
    settings[1].callback()
    T.eq(daemon({ type = "status" }).settings.manual_sync_only, not before, "manual_sync_only toggled")
    settings[1].callback()
    T.eq(daemon({ type = "status" }).settings.manual_sync_only, before, "and back")
end)

T.case("View Details shows the counts and the queued sessions", function()
    local from = #K.shown + 1
    plugin:showDetails()
    local viewer = K.shown_of("TextViewer", from)[1]
    T.ok(viewer, "details shown")
    T.ok(viewer.text:find("Pending sessions:", 1, true), "counts: " .. viewer.text)
    T.ok(viewer.text:find("A Test Book", 1, true), "queued session listed")
end)

T.case("Clear Pending warns with the seed's text, then clears", function()
    local from = #K.shown + 1
    plugin:confirmClearPending()
    local box = K.shown_of("ConfirmBox", from)[1]
    T.ok(box and box.text == "This permanently deletes all queued sessions. They will not be uploaded to BookLore. Only use this to remove test data or sessions you do not want.", "warning text")
    box.ok_callback()
    T.eq(daemon({ type = "status" }).pending_sessions, 0, "queue empty")
    local done = K.shown_of("InfoMessage", from)
    T.ok(#done == 1 and done[1].text:find("deleted", 1, true), "result shown")
end)

T.case("no daemon: the user is told once, reading goes on", function()
    K.settings.bookloresync.socket_path = workdir .. "/no-daemon.sock"
    private.shared.warned = false
    local from = #K.shown + 1
    local t0 = ipc.now_ms()
    for _ = 1, 3 do
        plugin:onReaderReady()
        K.clock = K.clock + 600
        plugin:onCloseDocument()
        plugin:onSuspend()
        plugin:onResume()
    end
    local elapsed = ipc.now_ms() - t0
    local notices = K.shown_of("InfoMessage", from)
    T.eq(#notices, 1, "notices shown")
    T.ok(notices[1].text:find("not running", 1, true), "notice text: " .. notices[1].text)
    T.ok(elapsed < 1000, string.format("12 events without a daemon took %.1f ms", elapsed))
    K.settings.bookloresync.socket_path = socket_path
end)

T.finish()
