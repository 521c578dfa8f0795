-- booklore_settings.lua (Tools → BookLore Sync → Settings) driven through the KOReader stubs
-- against the real booklore-syncd, started without a server, and the BookLore stand-in.
-- tests/integration/test_release.py starts both and sets the environment:
--   BOOKLORE_SOCKET, BOOKLORE_TEST_DIR (holds statistics.sqlite3), STANDIN_URL, STANDIN_PROFILE,
--   KO_USER, KO_PASSWORD, BL_USER, BL_PASSWORD, EXPECT_IMPORTED, EXPECT_SKIPPED, EXPECT_BOOKS,
--   BOOKLORE_DAEMON (the binary, for start_daemon).

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local K = require("koreader_stubs")
local json = require("json_min")
local Ipc = require("booklore_ipc")
local ffi = require("ffi")

local socket_path = T.env("BOOKLORE_SOCKET")
local workdir = T.env("BOOKLORE_TEST_DIR")
local url = T.env("STANDIN_URL")
local profile = T.env("STANDIN_PROFILE")

-- KOReader's MultiInputDialog:getFields (frontend/ui/widget/multiinputdialog.lua:246-252), where
-- the shared stubs lack it: the test types into `fields[i].text`.
local function get_fields(self)
    local out = {}
    for i, f in ipairs(self.fields) do out[i] = f.text or "" end
    return out
end
package.preload["ui/widget/multiinputdialog"] = package.preload["ui/widget/multiinputdialog"]
    or function() return { new = function(_, o) o.kind = "MultiInputDialog"; o.onShowKeyboard = function() end; return o end } end
local MultiInputDialog = require("ui/widget/multiinputdialog")
local new_dialog = MultiInputDialog.new
MultiInputDialog.new = function(class, o)
    local w = new_dialog(class, o)
    w.getFields = w.getFields or get_fields
    return w
end
local settings_dir = workdir
require("datastorage").getSettingsDir = function() return settings_dir end
local UIManager = require("ui/uimanager")
local closed = {}
UIManager.close = function(_, w) closed[w] = true end

local Settings = require("booklore_settings")

local probe = Ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode, timeout_ms = 5000 }
local function daemon_settings()
    local reply = assert(probe:request { type = "status" })
    T.ok(reply.ok, "status: " .. json.encode(reply))
    return reply.settings, json.encode(reply)
end
local function value(v) return v ~= json.null and v or nil end
local SAVED = "BookLore Sync: saved."

-- The plugin object as main.lua hands it over: only _private.socket_path is used.
local plugin = { _private = { socket_path = function() return socket_path end } }

-- KOReader decodes with luajson, whose null is a function: a plugin whose client decodes so.
local function luajson_null() end
local function luajson_decode(s)
    local function fix(v)
        if v == json.null then return luajson_null end
        if type(v) == "table" then
            for k, x in pairs(v) do v[k] = fix(x) end
        end
        return v
    end
    return fix(json.decode(s))
end
local luajson_plugin = { ipc = Ipc.new { socket_path = socket_path, encode = json.encode, decode = luajson_decode } }

-- The longest the UI thread spent in one callback or one round of scheduled tasks.
local longest_ms = 0
local function timed(fn, ...)
    local t0 = Ipc.now_ms()
    local r = fn(...)
    longest_ms = math.max(longest_ms, Ipc.now_ms() - t0)
    return r
end

-- One round of UIManager's loop: the stubs' virtual clock moves on by the module's poll period.
local function run_due_tasks()
    if K.advance then K.advance(0.2) else K.run_tasks() end
end
local function pending_tasks()
    return K.pending_tasks and K.pending_tasks() or #K.tasks
end

-- Runs UIManager's due tasks, as its loop would, until `pred` holds; waits 20 ms between rounds.
local function pump(pred, what, seconds)
    local deadline = Ipc.now_ms() + (seconds or 30) * 1000
    while true do
        timed(run_due_tasks)
        local v = pred()
        if v then return v end
        if Ipc.now_ms() > deadline then error("timed out waiting for " .. what, 2) end
        ffi.C.booklore_poll(nil, 0, 20)
    end
end

local function last_shown(kind, from, pattern)
    local found = K.shown_of(kind, from)
    for i = #found, 1, -1 do
        if not pattern or (found[i].text or ""):find(pattern, 1, true) then return found[i] end
    end
end

-- Presses the dialog's button named `name` and waits for an InfoMessage containing `expect`.
local function press(dialog, name, expect)
    local from = #K.shown + 1
    for _, row in ipairs(dialog.buttons) do
        for _, b in ipairs(row) do
            if b.text == name then
                timed(b.callback)
                return pump(function() return last_shown("InfoMessage", from, expect) end, "“" .. expect .. "”")
            end
        end
    end
    error("no button " .. name)
end

local function menu_entries(p)
    local item = Settings.menu_item(p)
    T.eq(item.text, "Settings", "menu entry")
    local entries = timed(item.sub_item_table_func)
    local by_name = {}
    for _, e in ipairs(entries) do
        by_name[(e.text or e.text_func()):match("^[^:]+")] = e
    end
    return entries, by_name
end

T.case("Settings has the server, the accounts, deletions, Test connection, Import", function()
    local entries = menu_entries(plugin)
    local names = {}
    for _, e in ipairs(entries) do names[#names + 1] = e.text or e.text_func() end
    T.eq(table.concat(names, "|"), "Server: not set|KOReader account: not set|BookLore account: not set|"
        .. "When a book is deleted|Test connection|Import Reading History", "entries")
end)

local function open(entry_name)
    local _, by_name = menu_entries(plugin)
    local from = #K.shown + 1
    timed(by_name[entry_name].callback)
    return K.shown[from]
end

T.case("a bad server URL is refused, naming the field, and nothing changes", function()
    local dialog = open("Server")
    T.eq(dialog.kind, "InputDialog", "an InputDialog")
    dialog.input = "ftp://booklore.example.org"
    local msg = press(dialog, "Save", "Not saved")
    T.ok(msg.text:find("Server URL", 1, true), "names the field: " .. msg.text)
    T.ok(not closed[dialog], "the dialog stays open to correct it")
    T.eq(value(daemon_settings().server_url) or "", "", "no server stored")
end)

T.case("a good server URL is saved and shown", function()
    local dialog = open("Server")
    dialog.input = "  " .. url .. "  "
    press(dialog, "Save", SAVED)
    T.ok(closed[dialog], "the dialog is closed once stored")
    T.eq(daemon_settings().server_url, url, "stored (trimmed)")
    local entries = menu_entries(plugin)
    T.eq(entries[1].text_func(), "Server: " .. url, "the menu shows it")
end)

local function set_account(entry, user, password)
    local dialog = open(entry)
    T.eq(dialog.kind, "MultiInputDialog", "a MultiInputDialog")
    T.eq(dialog.fields[2].text_type, "password", "the password is masked")
    T.eq(dialog.fields[2].text, "", "a stored password is never shown")
    dialog.fields[1].text, dialog.fields[2].text = user, password
    press(dialog, "Save", SAVED)
    return dialog
end

T.case("the KOReader and BookLore accounts are stored, their passwords never shown", function()
    set_account("KOReader account", T.env("KO_USER"), T.env("KO_PASSWORD"))
    set_account("BookLore account", T.env("BL_USER"), T.env("BL_PASSWORD"))
    local s, raw = daemon_settings()
    T.eq(s.username, T.env("KO_USER"), "KOReader user")
    T.eq(s.booklore_username, T.env("BL_USER"), "BookLore user")
    T.eq(s.password_set, true, "password_set")
    T.ok(not raw:find(T.env("KO_PASSWORD"), 1, true) and not raw:find(T.env("BL_PASSWORD"), 1, true),
        "no password in status")
    local dialog = open("KOReader account")
    T.ok(dialog.fields[2].hint:find("keep", 1, true), "an empty password keeps the stored one")
end)

-- Picks deletion mode `i` of the submenu; waits for the answer containing `expect`.
local function pick(sub, i, expect)
    local from = #K.shown + 1
    timed(sub[i].callback)
    return pump(function() return last_shown("InfoMessage", from, expect) end, expect)
end

T.case("deletion mode and shelf, each refusal naming the field to change", function()
    local _, by_name = menu_entries(plugin)
    local sub = by_name["When a book is deleted"].sub_item_table_func()
    T.eq(#sub, 4, "three modes and the shelf")
    local msg = pick(sub, 2, "Not saved")
    T.ok(msg.text:find("Shelf", 1, true), "unshelve without a shelf names the shelf: " .. msg.text)
    T.eq(daemon_settings().deletion_mode, "delete", "nothing changed")
    local f = #K.shown + 1
    timed(sub[4].callback)
    local shelf = K.shown[f]
    T.eq(shelf.input_type, "number", "a number field")
    shelf.input = "seven"
    msg = press(shelf, "Save", "Not saved")
    T.ok(msg.text:find("Shelf", 1, true), "names the field: " .. msg.text)
    shelf.input = "7"
    press(shelf, "Save", SAVED)
    T.eq(daemon_settings().shelf_id, 7, "shelf stored")
    T.eq(sub[4].text_func(), "Shelf: 7", "the menu shows it")
    pick(sub, 2, SAVED)
    T.eq(daemon_settings().deletion_mode, "unshelve", "unshelve stored")
    T.ok(sub[2].checked_func() and not sub[1].checked_func(), "the radio mark follows")
    pick(sub, 1, SAVED)
    T.eq(daemon_settings().deletion_mode, "delete", "back to delete")
end)

local function test_connection(p)
    local from = #K.shown + 1
    local _, by_name = menu_entries(p)
    timed(by_name["Test connection"].callback)
    return pump(function() return last_shown("TextViewer", from) or last_shown("InfoMessage", from + 1) end,
        "the Test connection answer", 60)
end

T.case("Test connection lists what works on profile " .. profile, function()
    local viewer = test_connection(plugin)
    T.eq(viewer.kind, "TextViewer", "a readable list: " .. tostring(viewer.text))
    local text = viewer.text
    T.ok(text:find("Server reachable: yes", 1, true), text)
    T.ok(text:find("KOReader account: ok", 1, true), text)
    T.ok(text:find("BookLore account: ok", 1, true), text)
    local extended = profile == "B" and "available" or "not available"
    T.ok(text:find("Batch upload: " .. extended, 1, true), text)
    T.ok(text:find("Book lookup by fingerprint: " .. extended, 1, true), text)
end)

T.case("Test connection with a wrong password says what to change", function()
    set_account("KOReader account", T.env("KO_USER"), "not-the-password")
    local viewer = test_connection(luajson_plugin)
    T.ok(viewer.text:find("KOReader account: refused: check the user name and password", 1, true), viewer.text)
    set_account("KOReader account", T.env("KO_USER"), T.env("KO_PASSWORD"))
end)

T.case("luajson's null (a function) is handled in the menu and the report", function()
    local entries = menu_entries(luajson_plugin)
    T.ok(entries[1].text_func():find(url, 1, true), "the menu reads through null fields")
    local report = Settings.server_report { reachable = luajson_null, koreader_account = "not_set",
        booklore_account = luajson_null, batch_endpoint = luajson_null, hash_lookup = false, message = luajson_null }
    T.ok(report:find("Server reachable: no", 1, true) and report:find("KOReader account: not set", 1, true), report)
end)

T.case("Import Reading History shows progress, then the summary", function()
    local from = #K.shown + 1
    local _, by_name = menu_entries(plugin)
    timed(by_name["Import Reading History"].callback)
    local summary = pump(function() return last_shown("InfoMessage", from, "Reading history imported") end, "the summary", 120)
    T.ok(last_shown("InfoMessage", from, " sessions"), "progress was shown")
    T.ok(summary.text:find("Sessions queued: " .. T.env("EXPECT_IMPORTED"), 1, true), summary.text)
    T.ok(summary.text:find("): " .. T.env("EXPECT_SKIPPED"), 1, true), summary.text)
    T.ok(summary.text:find("Books: " .. T.env("EXPECT_BOOKS"), 1, true), summary.text)
    T.eq(probe:request({ type = "status" }).pending_sessions, tonumber(T.env("EXPECT_IMPORTED")), "queued (manual sync only)")
end)

T.case("without statistics.sqlite3 the import says why and sends nothing", function()
    settings_dir = workdir .. "/empty"
    local from = #K.shown + 1
    Settings.import_history(plugin)
    settings_dir = workdir
    T.ok(last_shown("InfoMessage", from, "no reading history"), "explains")
    T.eq(pending_tasks(), 0, "no task scheduled")
end)

T.case("a daemon that is not running is reported at once", function()
    local gone = { _private = { socket_path = function() return workdir .. "/nobody.sock" end } }
    local from = #K.shown + 1
    local t0 = Ipc.now_ms()
    local binaries = Settings.binaries
    Settings.binaries = {} -- whatever is installed on this machine stays put
    Settings.test_connection(gone)
    Settings.binaries = binaries
    T.ok(Ipc.now_ms() - t0 < 200, "at once")
    local msg = last_shown("InfoMessage", from + 1)
    T.ok(msg and msg.text:find("not running", 1, true), "says the service is not running: " .. tostring(msg and msg.text))
end)

T.case("start_daemon starts a found booklore-syncd detached, configured with paths only", function()
    local dir = workdir .. "/selfstart"
    local sock = dir .. ".sock"
    T.ok(Settings.start_daemon { socket = sock, binaries = { T.env("BOOKLORE_DAEMON") }, config_dir = dir }, "started")
    local f = io.open(dir .. "/booklore-sync/config.json")
    local config = json.decode(f:read("*a"))
    f:close()
    T.eq(config.socket, sock, "socket")
    T.eq(config.database, dir .. "/booklore-sync/booklore-sync.sqlite", "database in the settings folder")
    T.eq(config.server_url, nil, "no server in the file")
    local own = Ipc.new { socket_path = sock, encode = json.encode, decode = json.decode, timeout_ms = 1000 }
    local answered, err = pcall(pump, function() return own:request { type = "status" } end, "the self-started daemon", 20)
    -- The process started, found by its config path (to check its session, and to stop it).
    local p = io.popen("for d in /proc/[0-9]*; do grep -qs -- '" .. dir .. "/booklore-sync/config.json' $d/cmdline && "
        .. "echo ${d#/proc/} $(cut -d' ' -f6 $d/stat); done")
    local pid, sid = (p:read("*l") or ""):match("(%d+) (%d+)")
    p:close()
    if pid then os.execute("kill -TERM " .. pid .. " 2>/dev/null") end
    local log = io.open(dir .. "/booklore-sync/booklore-syncd.log")
    T.ok(answered, tostring(err) .. "; its log: " .. (log and log:read("*a") or "(none)"))
    -- Its own session: a KOReader that exits (and its process group) does not take it along.
    T.eq(sid, pid, "session leader")
end)

T.case("no callback or task held the UI thread for more than a moment", function()
    io.write(string.format("figure: longest UI-thread slice %.1f ms\n", longest_ms))
    T.ok(longest_ms < 250, string.format("longest %.1f ms", longest_ms))
end)

T.finish()
