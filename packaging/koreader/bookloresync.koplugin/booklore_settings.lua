--[[--
Tools → BookLore Sync → Settings: the server, the two accounts and the deletion mode, set from the
reader (INTERFACE.md "Configured from the reader"), plus Test connection and Import Reading History.

main.lua puts `menu_item(self)` first in the plugin's menu. What this module uses of that plugin
object, and nothing more:
  - `plugin.ipc`: a booklore_ipc client, if the plugin has one;
  - otherwise `plugin._private.socket_path`: a function giving the daemon's socket, for a client
    of our own.

The UI thread never waits for the daemon here beyond booklore_ipc's connect/send bound (200 ms):
every request goes out on a connection of its own that is also subscribed, and its reply (and,
meanwhile, events such as import_progress) is read by a UIManager task every POLL_SECONDS. Saving
validates nothing itself: the daemon validates exactly as it validates its config file, and its
refusal names the field.

The dialogs follow KOReader's kosync plugin (koreader/koreader fc888876,
plugins/kosync.koplugin/main.lua:229-258 for an InputDialog, :486-557 for the MultiInputDialog
login with a `text_type = "password"` field, read back with getFields(),
frontend/ui/widget/multiinputdialog.lua:246).
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

-- The last `settings` the daemon reported (status or set_settings); never holds a secret.
local state = { settings = {}, next_id = 0 }

-- luajson decodes JSON null to a function (json.util.null), our test decoder to json.null:
-- both mean "no value". Anything else is returned as it is.
local function value(v)
    if type(v) == "function" or (json.null ~= nil and v == json.null) then
        return nil
    end
    return v
end

local function text(v)
    v = value(v)
    local t = type(v)
    if t == "string" then
        return v
    elseif t == "number" or t == "boolean" then
        return tostring(v)
    end
    return ""
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
    if not own_clients[plugin] then
        own_clients[plugin] = Ipc.new { socket_path = plugin._private.socket_path, encode = json.encode, decode = json.decode }
    end
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
-- opts: socket (required), binaries (default M.binaries), config_dir (default: KOReader's
-- settings folder).
-- Returns true, or false and why.
function M.start_daemon(opts)
    if lfs.attributes("/run/systemd/system", "mode") == "directory" and not opts.binaries then
        return false, "systemd"
    end
    local binary
    for _i, b in ipairs(opts.binaries or M.binaries) do
        if lfs.attributes(b, "mode") == "file" then
            binary = b
            break
        end
    end
    if not binary then
        return false, "no booklore-syncd found"
    end
    local dir = (opts.config_dir or DataStorage:getSettingsDir()) .. "/booklore-sync"
    local config = dir .. "/config.json"
    if lfs.attributes(config, "mode") ~= "file" then
        os.execute("mkdir -p " .. shell_quote(dir))
        local f = io.open(config, "w")
        if not f then
            return false, "cannot write " .. config
        end
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

--- Sends `msg` without waiting for it. handlers: reply(r) → true to keep listening for events;
-- event(e) → true when the call is over; fail(text); timeout_s.
local function call(plugin, msg, handlers)
    state.next_id = state.next_id + 1
    msg.id = "settings-" .. state.next_id
    local sub, code, message = client_of(plugin):subscribe()
    if sub then
        local sent
        sent, code, message = sub:send(msg)
        if not sent then
            sub:close()
            sub = nil
        end
    end
    if not sub then
        handlers.fail(unreachable_text(plugin, code, message))
        return
    end
    local deadline = Ipc.now_ms() + (handlers.timeout_s or 10) * 1000
    local function tick()
        for _i, line in ipairs(sub:poll()) do
            local done
            if line.event ~= nil then
                done = handlers.event and handlers.event(line)
            elseif line.id == msg.id then
                done = not handlers.reply(line)
            end
            if done then
                sub:close()
                return
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
                show(refusal_text(reply))
                return
            end
            if type(value(reply.settings)) == "table" then
                state.settings = reply.settings
            end
            if dialog then
                UIManager:close(dialog)
            end
            show(_("BookLore Sync: saved."), 2)
        end,
        fail = function(msg) show(msg) end,
    })
end

local function refresh(plugin)
    local status = client_of(plugin):request { type = "status" }
    if status and status.ok == true and type(value(status.settings)) == "table" then
        state.settings = status.settings
    end
end

local function buttons(on_save, dialog_ref)
    return { {
        { text = _("Cancel"), id = "close", callback = function() UIManager:close(dialog_ref()) end },
        { text = _("Save"), is_enter_default = true, callback = on_save },
    } }
end

function M.edit_server(plugin)
    local dialog
    dialog = InputDialog:new {
        title = _("BookLore server URL"),
        input = text(state.settings.server_url),
        input_hint = "https://booklore.example.org",
        description = _("The address you open BookLore or Grimmory with in a browser."),
        buttons = buttons(function()
            save(plugin, { server_url = trim(dialog:getInputText()) }, dialog)
        end, function() return dialog end),
    }
    UIManager:show(dialog)
    dialog:onShowKeyboard()
    return dialog
end

-- An account: user and masked password. An empty password keeps the stored one; an empty user
-- removes the account (user and password).
local function edit_account(plugin, title, user_key, password_key, set_key)
    local dialog
    local password_set = value(state.settings[set_key]) == true
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
            if user == "" then
                changes[password_key] = ""
            elseif password ~= "" then
                changes[password_key] = password
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

function M.edit_shelf(plugin)
    local dialog
    dialog = InputDialog:new {
        title = _("Shelf to remove deleted books from"),
        input = text(state.settings.shelf_id),
        input_type = "number",
        input_hint = "7",
        description = _("The number of the shelf, as in the shelf's address in BookLore. Empty: none."),
        buttons = buttons(function()
            local entered = trim(dialog:getInputText())
            save(plugin, { shelf_id = tonumber(entered) or entered }, dialog)
        end, function() return dialog end),
    }
    UIManager:show(dialog)
    dialog:onShowKeyboard()
    return dialog
end

local ACCOUNT = {
    ok = _("ok"),
    refused = _("refused: check the user name and password"),
    not_set = _("not set"),
}

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
        lines[#lines + 1] = ""
        lines[#lines + 1] = text(server.message)
    end
    return table.concat(lines, "\n")
end

function M.test_connection(plugin)
    local waiting = show(_("BookLore Sync: testing the connection…"))
    call(plugin, { type = "check_server" }, {
        timeout_s = CHECK_TIMEOUT_S,
        reply = function(reply)
            UIManager:close(waiting)
            if reply.ok ~= true or type(value(reply.server)) ~= "table" then
                show(T(_("Test connection: %1"), text(type(value(reply.error)) == "table" and reply.error.message)))
                return
            end
            UIManager:show(TextViewer:new { title = _("BookLore Sync: Test connection"), text = M.server_report(reply.server) })
        end,
        fail = function(msg)
            UIManager:close(waiting)
            show(msg)
        end,
    })
end

local function import_summary(r)
    return T(_("Reading history imported.\n\nSessions queued: %1\nSkipped (too short, or already queued or uploaded): %2\nBooks: %3"),
        text(r.imported), text(r.skipped), text(r.books))
end

--- Imports KOReader's statistics. With wait:false the daemon answers at once; progress comes as
-- import_progress events, the end as an import_finished event carrying the summary (a reply
-- that already carries `imported` is the summary itself).
function M.import_history(plugin)
    local path = DataStorage:getSettingsDir() .. "/statistics.sqlite3"
    if lfs.attributes(path, "mode") ~= "file" then
        show(T(_("There is no reading history to import: %1 does not exist. KOReader writes it while the Reading statistics plugin is on."), path))
        return
    end
    local shown = show(_("BookLore Sync: importing reading history…"))
    local last_shown = 0
    local function replace(msg, timeout)
        UIManager:close(shown)
        shown = show(msg, timeout)
    end
    local function finish(summary)
        replace(import_summary(summary))
        return true
    end
    call(plugin, { type = "import_history", path = path, wait = false }, {
        timeout_s = IMPORT_TIMEOUT_S,
        reply = function(reply)
            if reply.ok ~= true then
                replace(T(_("Import refused: %1"), text(type(value(reply.error)) == "table" and reply.error.message)))
                return false
            elseif value(reply.imported) ~= nil then
                finish(reply)
                return false
            end
            return true
        end,
        event = function(e)
            if e.event == "import_progress" then
                local done, total = tonumber(value(e.done)) or 0, tonumber(value(e.total)) or 0
                if Ipc.now_ms() - last_shown >= PROGRESS_EVERY_MS or done == total then
                    last_shown = Ipc.now_ms()
                    replace(T(_("BookLore Sync: importing reading history…\n%1 of %2 page visits"), done, total))
                end
            elseif e.event == "import_finished" then
                return finish(type(value(e.result)) == "table" and e.result or e)
            end
        end,
        fail = function(msg) replace(msg) end,
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
        items[#items + 1] = {
            text = mode[2],
            radio = true,
            checked_func = function() return text(state.settings.deletion_mode) == mode[1] end,
            callback = function() save(plugin, { deletion_mode = mode[1] }) end,
        }
    end
    items[#items].separator = true
    items[#items + 1] = {
        text_func = function()
            local shelf = text(state.settings.shelf_id)
            return T(_("Shelf: %1"), shelf ~= "" and shelf or _("not set"))
        end,
        keep_menu_open = true,
        callback = function() M.edit_shelf(plugin) end,
    }
    return items
end

local function or_not_set(v)
    v = text(v)
    return v ~= "" and v or _("not set")
end

--- The Settings entry of the plugin's menu: a KOReader menu table entry.
function M.menu_item(plugin)
    local s = function() return state.settings end
    return {
        text = _("Settings"),
        sub_item_table_func = function()
            refresh(plugin)
            return {
                {
                    text_func = function() return T(_("Server: %1"), or_not_set(s().server_url)) end,
                    keep_menu_open = true,
                    callback = function() M.edit_server(plugin) end,
                },
                {
                    text_func = function() return T(_("KOReader account: %1"), or_not_set(s().username)) end,
                    keep_menu_open = true,
                    callback = function() M.edit_koreader_account(plugin) end,
                },
                {
                    text_func = function() return T(_("BookLore account: %1"), or_not_set(s().booklore_username)) end,
                    keep_menu_open = true,
                    callback = function() M.edit_booklore_account(plugin) end,
                },
                {
                    text = _("When a book is deleted"),
                    sub_item_table_func = function() return deletion_menu(plugin) end,
                    separator = true,
                },
                { text = _("Test connection"), keep_menu_open = true, callback = function() M.test_connection(plugin) end },
                { text = _("Import Reading History"), keep_menu_open = true, callback = function() M.import_history(plugin) end },
            }
        end,
    }
end

-- For the tests.
M._private = { state = state, value = value }

return M
