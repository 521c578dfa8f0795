--[[--
Tools → BookLore Sync → Settings: the server, the two accounts and the deletion mode, set from the
reader (INTERFACE.md "Configured from the reader"), plus Test connection and Import Reading History.

main.lua puts `menu_item(self)` first in the plugin's menu. Of that plugin object this module
uses `plugin.ipc` (a booklore_ipc client) if there is one, else `plugin._private.socket_path` (a
function giving the socket) for a client of its own; nothing more.

The UI thread never waits for the daemon beyond booklore_ipc's connect/send bound (200 ms): each
request goes out on a subscribed connection of its own, whose reply (and the events meanwhile,
such as import_progress) a UIManager task reads every POLL_SECONDS. Nothing is validated here:
the daemon validates as it validates its config file, and its refusal names the field.
The dialogs are built as KOReader's kosync plugin builds its own (koreader/koreader fc888876).
]]

local DataStorage = require("datastorage")
local InfoMessage = require("ui/widget/infomessage")
local InputDialog = require("ui/widget/inputdialog")
local MultiInputDialog = require("ui/widget/multiinputdialog")
local TextViewer = require("ui/widget/textviewer")
local UIManager = require("ui/uimanager")
local json = require("json")
local lfs = require("libs/libkoreader-lfs")
local logger = require("logger")
local _ = require("gettext")
local T = require("ffi/util").template
local Ipc = require("booklore_ipc")

local POLL_SECONDS = 0.2
local CHECK_TIMEOUT_S = 120   -- check_server tries several endpoints, each bounded by the daemon
local IMPORT_TIMEOUT_S = 3600 -- half a million page visits take minutes on a reader
local PROGRESS_EVERY_MS = 1000

local M = {}

-- The last `settings` the daemon reported (status, set_settings); it never holds a secret.
local state = { settings = {}, next_id = 0 }

-- luajson decodes JSON null to a function (json.util.null), our test decoder to json.null:
-- both mean "no value". Anything else is returned as it is.
local function value(v)
    if type(v) == "function" or (json.null ~= nil and v == json.null) then v = nil end
    return v
end

local function text(v)
    local t = type(value(v))
    return (t == "string" or t == "number" or t == "boolean") and tostring(v) or ""
end

local function or_not_set(v)
    v = text(v)
    return v ~= "" and v or _("not set")
end

local function trim(s)
    return (s or ""):match("^%s*(.-)%s*$")
end

local function show(msg, timeout)
    local w = InfoMessage:new { text = msg, timeout = timeout }
    UIManager:show(w)
    return w
end

local own_clients = setmetatable({}, { __mode = "k" }) -- by plugin object
local function client_of(plugin)
    if type(plugin.ipc) == "table" and plugin.ipc.subscribe then
        return plugin.ipc
    end
    own_clients[plugin] = own_clients[plugin]
        or Ipc.new { socket_path = plugin._private.socket_path, encode = json.encode, decode = json.decode }
    return own_clients[plugin]
end

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "."
-- Where no platform mechanism starts the daemon (KoboRoot.tgz's init script, the KUAL extension,
-- a systemd unit), a booklore-syncd found here is started by the plugin.
M.binaries = { here .. "/bin/booklore-syncd", "/usr/local/bin/booklore-syncd", "/usr/bin/booklore-syncd" }

local function shell_quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Starts booklore-syncd detached (its own session, stdio away from KOReader, working directory
-- /), so that it keeps running when KOReader exits. Does nothing under systemd (the unit owns
-- the daemon) or when no binary is found. The config it writes, if there is none, holds only the
-- database and the socket: the rest is set from the Settings menu and kept in the database.
-- opts: socket (required), binaries (default M.binaries, none under systemd), config_dir
-- (default: KOReader's settings folder). Returns true, or false and why.
function M.start_daemon(opts)
    local binary
    for _i, b in ipairs(opts.binaries or lfs.attributes("/run/systemd/system", "mode") ~= "directory" and M.binaries or {}) do
        binary = binary or (lfs.attributes(b, "mode") == "file" and b) or nil
    end
    if not binary then return false, "no booklore-syncd to start" end
    local dir = (opts.config_dir or DataStorage:getSettingsDir()) .. "/booklore-sync"
    local config = dir .. "/config.json"
    if lfs.attributes(config, "mode") ~= "file" then
        os.execute("mkdir -p " .. shell_quote(dir))
        local f = io.open(config, "w")
        if not f then return false, "cannot write " .. config end
        f:write(json.encode { database = dir .. "/booklore-sync.sqlite", socket = opts.socket }, "\n")
        f:close()
    end
    logger.info("BookLoreSync: starting", binary)
    -- setsid where there is one (BusyBox has it), else nohup: a launcher that kills its process
    -- group on exit must not take the daemon with it.
    local script = [[cd / || exit 1; umask 077
if command -v setsid >/dev/null 2>&1; then setsid "$0" --config "$1" </dev/null >>"$2" 2>&1 &
else nohup "$0" --config "$1" </dev/null >>"$2" 2>&1 & fi]]
    os.execute("sh -c " .. shell_quote(script) .. " " .. shell_quote(binary) .. " " .. shell_quote(config)
        .. " " .. shell_quote(dir .. "/booklore-syncd.log"))
    return true
end

local function unreachable_text(plugin, code, message)
    if code == "unavailable" then
        local started = M.start_daemon { socket = client_of(plugin):path() }
        return T(_("The sync service (booklore-syncd) is not running. %1\n\n%2"),
            started and _("It is being started: try again in a moment.") or _("It was not found or could not be started: see the README for your device."),
            text(message))
    end
    return T(_("Cannot reach the sync service: %1"), text(message))
end

--- Sends `msg` without waiting for it: handlers.reply(r) gets its reply, handlers.event(e) the
-- events that arrive meanwhile, handlers.fail(text) a failure; within handlers.timeout_s.
local function call(plugin, msg, handlers)
    state.next_id = state.next_id + 1
    msg.id = "settings-" .. state.next_id
    local sub, code, message = client_of(plugin):subscribe()
    local sent = false
    if sub then sent, code, message = sub:send(msg) end
    if not sent then
        if sub then sub:close() end
        return handlers.fail(unreachable_text(plugin, code, message))
    end
    local deadline = Ipc.now_ms() + (handlers.timeout_s or 10) * 1000
    local function tick()
        for _i, line in ipairs(sub:poll()) do
            if line.event ~= nil and handlers.event then
                handlers.event(line)
            elseif line.id == msg.id then
                sub:close()
                return handlers.reply(line)
            end
        end
        if not sub.alive then
            handlers.fail(_("The sync service closed the connection before answering."))
        elseif Ipc.now_ms() > deadline then
            sub:close()
            handlers.fail(_("The sync service did not answer in time."))
        else
            UIManager:scheduleIn(POLL_SECONDS, tick)
        end
    end
    UIManager:scheduleIn(POLL_SECONDS, tick)
end

-- Human names of the fields a refusal may name.
local FIELD_NAMES = {
    server_url = _("Server URL"), username = _("KOReader user"), password = _("KOReader password"),
    password_md5 = _("KOReader password"), booklore_username = _("BookLore user"),
    booklore_password = _("BookLore password"), deletion_mode = _("Deletion mode"), shelf_id = _("Shelf"),
    ca_file = _("CA file"),
}

local function refusal_text(reply)
    local err = type(value(reply.error)) == "table" and reply.error or {}
    local field = text(err.field)
    return T(_("Not saved: %1"), text(err.message) ~= "" and text(err.message) or text(err.code))
        .. (field ~= "" and "\n\n" .. T(_("Change: %1"), FIELD_NAMES[field] or field) or "")
end

--- Sends set_settings; closes `dialog` once the daemon stored it, keeps it open on a refusal.
local function save(plugin, changes, dialog)
    changes.type = "set_settings"
    call(plugin, changes, {
        reply = function(reply)
            if reply.ok ~= true then
                return show(refusal_text(reply))
            end
            state.settings = type(value(reply.settings)) == "table" and reply.settings or state.settings
            if dialog then UIManager:close(dialog) end
            show(_("BookLore Sync: saved."), 2)
        end,
        fail = show,
    })
end

local function refresh(plugin)
    local status = client_of(plugin):request { type = "status" }
    state.settings = status and status.ok == true and type(value(status.settings)) == "table" and status.settings or state.settings
end

local function buttons(on_save, dialog_ref)
    return { {
        { text = _("Cancel"), id = "close", callback = function() UIManager:close(dialog_ref()) end },
        { text = _("Save"), is_enter_default = true, callback = on_save },
    } }
end

-- One value in an InputDialog (plugins/kosync.koplugin/main.lua:229-258); `to_value` turns the
-- text into what is sent.
local function edit_one(plugin, key, dialog_opts, to_value)
    local dialog
    dialog_opts.input = text(state.settings[key])
    dialog_opts.buttons = buttons(function()
        save(plugin, { [key] = to_value(trim(dialog:getInputText())) }, dialog)
    end, function() return dialog end)
    dialog = InputDialog:new(dialog_opts)
    UIManager:show(dialog)
    dialog:onShowKeyboard()
    return dialog
end

function M.edit_server(plugin)
    return edit_one(plugin, "server_url", {
        title = _("BookLore server URL"),
        input_hint = "https://booklore.example.org",
        description = _("The address you open BookLore or Grimmory with in a browser."),
    }, function(entered) return entered end)
end

-- A shelf that is not a number goes to the daemon as text, which refuses it naming the field.
function M.edit_shelf(plugin)
    return edit_one(plugin, "shelf_id", {
        title = _("Shelf to remove deleted books from"),
        input_type = "number",
        input_hint = "7",
        description = _("The number of the shelf, as in the shelf's address in BookLore. Empty: none."),
    }, function(entered) return tonumber(entered) or entered end)
end

-- An account: user and masked password. An empty password keeps the stored one; an empty user
-- removes the account (user and password).
local function edit_account(plugin, title, user_key, password_key, set_key)
    local dialog
    local password_set = value(state.settings[set_key]) == true
    -- plugins/kosync.koplugin/main.lua:486-557: `text_type = "password"` masks it, getFields()
    -- reads both back (frontend/ui/widget/multiinputdialog.lua:246).
    dialog = MultiInputDialog:new {
        title = title,
        fields = {
            { text = text(state.settings[user_key]), hint = _("user name") },
            { text = "", text_type = "password",
              hint = password_set and _("password (empty: keep the stored one)") or _("password") },
        },
        buttons = buttons(function()
            local fields = dialog:getFields()
            local user, password = trim(fields[1]), fields[2] or ""
            local changes = { [user_key] = user }
            if user == "" or password ~= "" then
                changes[password_key] = user ~= "" and password or ""
            end
            save(plugin, changes, dialog)
        end, function() return dialog end),
    }
    UIManager:show(dialog)
    dialog:onShowKeyboard()
    return dialog
end

function M.edit_koreader_account(plugin)
    return edit_account(plugin, _("KOReader sync account on the server"), "username", "password", "password_set")
end

function M.edit_booklore_account(plugin)
    return edit_account(plugin, _("BookLore account"), "booklore_username", "booklore_password", "booklore_password_set")
end

local ACCOUNT = { ok = _("ok"), refused = _("refused: check the user name and password"), not_set = _("not set") }

--- The check_server answer as a list a person can act on.
function M.server_report(server)
    local function yes(v) return value(v) == true end
    local lines = {
        T(_("Server reachable: %1"), yes(server.reachable) and _("yes") or _("no: check the server URL and that Wi-Fi is on")),
        T(_("KOReader account: %1"), ACCOUNT[text(server.koreader_account)] or text(server.koreader_account)),
        T(_("BookLore account: %1"), ACCOUNT[text(server.booklore_account)] or text(server.booklore_account)),
        T(_("Batch upload: %1"), yes(server.batch_endpoint) and _("available") or _("not available (sessions are sent one by one)")),
        T(_("Book lookup by fingerprint: %1"), yes(server.hash_lookup) and _("available") or _("not available (books are matched by ISBN)")),
    }
    if text(server.booklore_account) == "not_set" then
        lines[#lines + 1] = _("Grimmory and official BookLore servers need the BookLore account to take sessions.")
    end
    if text(server.message) ~= "" then
        lines[#lines + 1] = "\n" .. text(server.message)
    end
    return table.concat(lines, "\n")
end

local function error_text(reply)
    return text(type(value(reply.error)) == "table" and reply.error.message)
end

function M.test_connection(plugin)
    local waiting = show(_("BookLore Sync: testing the connection…"))
    call(plugin, { type = "check_server" }, {
        timeout_s = CHECK_TIMEOUT_S,
        reply = function(reply)
            UIManager:close(waiting)
            if reply.ok ~= true or type(value(reply.server)) ~= "table" then
                return show(T(_("Test connection: %1"), error_text(reply)))
            end
            UIManager:show(TextViewer:new { title = _("BookLore Sync: Test connection"), text = M.server_report(reply.server) })
        end,
        fail = function(msg) UIManager:close(waiting); show(msg) end,
    })
end

--- Imports KOReader's statistics. Sent with wait:true on the call's own subscribed connection: the
-- reply carries the summary once the last group is committed, the import_progress events arrive
-- before it, and the UI thread only reads what has arrived. (With wait:false the daemon answers
-- {started, total} at once and reports the outcome only in its log.)
function M.import_history(plugin)
    local path = DataStorage:getSettingsDir() .. "/statistics.sqlite3"
    if lfs.attributes(path, "mode") ~= "file" then
        return show(T(_("There is no reading history to import: %1 does not exist. KOReader writes it while the Reading statistics plugin is on."), path))
    end
    local shown, last_shown = show(_("BookLore Sync: importing reading history…")), 0
    local function replace(msg)
        UIManager:close(shown)
        shown = show(msg)
    end
    call(plugin, { type = "import_history", path = path, wait = true }, {
        timeout_s = IMPORT_TIMEOUT_S,
        reply = function(r)
            if r.ok ~= true then
                return replace(T(_("Import refused: %1"), error_text(r)))
            end
            replace(T(_("Reading history imported.\n\nSessions queued: %1\nSkipped (too short, or already queued or uploaded): %2\nBooks: %3"),
                text(r.imported), text(r.skipped), text(r.books)))
        end,
        event = function(e)
            local done, total = tonumber(value(e.done)) or 0, tonumber(value(e.total)) or 0
            if e.event == "import_progress" and (Ipc.now_ms() - last_shown >= PROGRESS_EVERY_MS or done == total) then
                last_shown = Ipc.now_ms()
                replace(T(_("BookLore Sync: importing reading history…\n%1 of %2 sessions"), done, total))
            end
        end,
        fail = replace,
    })
end

local DELETION_MODES = {
    { "delete", _("Delete the book on the server") },
    { "unshelve", _("Remove the book from a shelf") },
    { "off", _("Do nothing on the server") },
}

local function deletion_menu(plugin)
    local items = {}
    for _i, mode in ipairs(DELETION_MODES) do
        items[#items + 1] = { text = mode[2], radio = true, callback = function() save(plugin, { deletion_mode = mode[1] }) end,
            checked_func = function() return text(state.settings.deletion_mode) == mode[1] end }
    end
    items[#items].separator = true
    items[#items + 1] = {
        text_func = function() return T(_("Shelf: %1"), or_not_set(state.settings.shelf_id)) end,
        keep_menu_open = true,
        callback = function() M.edit_shelf(plugin) end,
    }
    return items
end

-- The first entries of Settings: what each shows, and the dialog that changes it.
local VALUES = {
    { _("Server: %1"), "server_url", M.edit_server },
    { _("KOReader account: %1"), "username", M.edit_koreader_account },
    { _("BookLore account: %1"), "booklore_username", M.edit_booklore_account },
}

--- The Settings entry of the plugin's menu: a KOReader menu table entry.
function M.menu_item(plugin)
    local function entries()
        refresh(plugin)
        local items = {}
        for _i, v in ipairs(VALUES) do
            items[#items + 1] = {
                text_func = function() return T(v[1], or_not_set(state.settings[v[2]])) end,
                keep_menu_open = true,
                callback = function() v[3](plugin) end,
            }
        end
        items[#items + 1] = {
            text = _("When a book is deleted"),
            sub_item_table_func = function() return deletion_menu(plugin) end,
            separator = true,
        }
        items[#items + 1] = { text = _("Test connection"), keep_menu_open = true, callback = function() M.test_connection(plugin) end }
        items[#items + 1] = { text = _("Import Reading History"), keep_menu_open = true, callback = function() M.import_history(plugin) end }
        return items
    end
    return { text = _("Settings"), sub_item_table_func = entries }
end

return M
