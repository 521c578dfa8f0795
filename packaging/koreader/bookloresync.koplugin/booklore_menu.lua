--[[--
Tools → BookLore Sync: Sync Now, Manage Sessions, Sync Settings, Service.

The menu asks the daemon directly (status, list_pending, set_settings, clear_pending: bounded
requests, the user is waiting for the answer anyway); Sync Now goes through the link, because it
starts a sync whose events we listen for.
]]

local ConfirmBox = require("ui/widget/confirmbox")
local InfoMessage = require("ui/widget/infomessage")
local InputDialog = require("ui/widget/inputdialog")
local TextViewer = require("ui/widget/textviewer")
local UIManager = require("ui/uimanager")
local _ = require("gettext")
local T = require("ffi/util").template

local CLEAR_WARNING = _("This permanently deletes all queued sessions. They will not be uploaded to BookLore. Only use this to remove test data or sessions you do not want.")

local M = { daemon_settings = {} }

-- Text for a reply field. JSON null is a function in KOReader's luajson (json/util.lua:75 at
-- harningt/luajson 6ecaf9b), and template() raises on a function, so nothing raw goes into T().
local function str(value)
    local t = type(value)
    if t == "string" then
        return value
    elseif t == "number" or t == "boolean" then
        return tostring(value)
    end
    return ""
end

local function num(value)
    return type(value) == "number" and value or 0
end
M.str, M.num = str, num

local function show(text, timeout)
    UIManager:show(InfoMessage:new { text = text, timeout = timeout })
end

local function format_duration(seconds)
    seconds = math.floor(num(seconds))
    local h, m, s = math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60
    if h > 0 then
        return string.format("%dh %dm %ds", h, m, s)
    elseif m > 0 then
        return string.format("%dm %ds", m, s)
    end
    return string.format("%ds", s)
end

local function describe(value)
    local keys, parts = {}, {}
    for k, v in pairs(value) do
        if type(v) ~= "table" and type(v) ~= "function" then
            keys[#keys + 1] = tostring(k)
        end
    end
    table.sort(keys)
    for _i, k in ipairs(keys) do
        parts[#parts + 1] = k .. ": " .. str(value[k])
    end
    return table.concat(parts, ", ")
end

local function refused(reply, code, message)
    if reply then
        show(T(_("BookLore Sync: %1"), str(type(reply.error) == "table" and reply.error.message or "?")))
    else
        show(T(_("BookLore Sync: cannot reach the sync service.\n\n%1"), str(message or code)))
    end
end

--- ctx: request(msg) (a bounded synchronous request), link, socket_path(), start_command(),
-- settings(), save_setting(k, v), start_daemon(), report_next_sync([on]) (sets the
-- flag that the next sync_finished is shown, and returns it).
function M.setup(ctx)
    M.ctx = ctx
end

function M.sync_now()
    -- Armed before the reply: the daemon may announce the sync's end before it answers.
    M.ctx.report_next_sync(true)
    M.ctx.link.send({ type = "sync_now", wait = false }, {
        trigger = true,
        quiet = true, -- the reply handler says what went wrong, once
        on_reply = function(reply, code, message)
            if not (reply and reply.ok) then
                M.ctx.report_next_sync(false)
                refused(reply, code, message)
            elseif M.ctx.report_next_sync() then
                show(_("BookLore Sync: sync started."), 2)
            end
        end,
    })
    return true
end

function M.details_text()
    local ctx = M.ctx
    local status, code, message = ctx.request { type = "status" }
    if not status then
        return T(_("The sync service cannot be reached (%1).\n\n%2\n\nSocket: %3"), str(code), str(message), ctx.socket_path())
    elseif status.ok == false then
        return T(_("The sync service refused: %1"), str(type(status.error) == "table" and status.error.message))
    end
    M.daemon_settings = type(status.settings) == "table" and status.settings or M.daemon_settings
    local lines = {
        T(_("Pending sessions: %1 (not yet matched to a book: %2)"), num(status.pending_sessions), num(status.unresolved_sessions)),
        T(_("Pending deletions: %1"), num(status.pending_deletions)),
        T(_("Uploaded sessions: %1"), num(status.historical_sessions)),
        T(_("Network: %1 · sync: %2"), str(status.network), str(status.sync)),
    }
    if type(status.next_sync_in_seconds) == "number" then
        lines[#lines + 1] = T(_("Next sync in %1"), format_duration(status.next_sync_in_seconds))
    end
    if type(status.last_sync) == "table" and next(status.last_sync) ~= nil then
        lines[#lines + 1] = T(_("Last sync: %1"), describe(status.last_sync))
        if type(status.last_sync.result) == "table" then
            lines[#lines + 1] = "  " .. describe(status.last_sync.result)
        end
    end
    local waiting = #ctx.link.outbox:entries()
    if waiting > 0 then
        lines[#lines + 1] = T(_("Waiting on this reader for the service: %1"), waiting)
    end
    lines[#lines + 1] = T(_("Service version: %1 · socket: %2"), str(status.version), ctx.socket_path())
    local pending = ctx.request { type = "list_pending", limit = 100 }
    if pending and pending.ok ~= false then
        if type(pending.sessions) == "table" and #pending.sessions > 0 then
            lines[#lines + 1] = ""
            lines[#lines + 1] = _("Queued sessions:")
            for _i, row in ipairs(pending.sessions) do
                local name = str(row.title) ~= "" and row.title or str(row.book_hash):sub(1, 8)
                local line = string.format("#%s %s · %s · %s", str(row.id), name,
                    format_duration(row.duration_seconds), str(row.created_at))
                if num(row.retry_count) > 0 then
                    line = line .. T(_(" · tries: %1"), num(row.retry_count))
                end
                if str(row.last_error) ~= "" then
                    line = line .. " · " .. row.last_error
                end
                lines[#lines + 1] = line
            end
        end
        if type(pending.deletions) == "table" and #pending.deletions > 0 then
            lines[#lines + 1] = ""
            lines[#lines + 1] = _("Queued deletions:")
            for _i, row in ipairs(pending.deletions) do
                lines[#lines + 1] = string.format("#%s %s", str(row.id), str(row.file_path))
            end
        end
    end
    return table.concat(lines, "\n")
end

function M.show_details()
    UIManager:show(TextViewer:new { title = _("BookLore Sync"), text = M.details_text() })
end

function M.confirm_clear_pending()
    UIManager:show(ConfirmBox:new {
        text = CLEAR_WARNING,
        ok_text = _("Clear"),
        ok_callback = function()
            local reply, code, message = M.ctx.request { type = "clear_pending", confirm = true }
            if reply and reply.ok then
                show(T(_("BookLore Sync: %1 queued sessions deleted."), num(reply.cleared)), 3)
            else
                refused(reply, code, message)
            end
        end,
    })
end

function M.set_daemon_setting(key, value)
    local reply, code, message = M.ctx.request { type = "set_settings", [key] = value }
    if reply and reply.ok and type(reply.settings) == "table" then
        M.daemon_settings = reply.settings
    else
        refused(reply, code, message)
    end
end

local function toggle(key)
    M.set_daemon_setting(key, M.daemon_settings[key] ~= true)
end

function M.sync_settings_menu()
    local status = M.ctx.request { type = "status" }
    if status and type(status.settings) == "table" then
        M.daemon_settings = status.settings
    end
    return {
        {
            text = _("Manual Sync Only"),
            help_text = _("Sessions are only queued; they are uploaded when you choose Sync Now."),
            checked_func = function() return M.daemon_settings.manual_sync_only == true end,
            callback = function() toggle("manual_sync_only") end,
        },
        {
            text = _("Sync Triggers"),
            sub_item_table = { {
                text = _("Ask before enabling Wi-Fi"),
                help_text = _("When a sync is due and Wi-Fi is off, ask before turning it on. KOReader's own \"Action when Wi-Fi is off\" still applies: with \"Turn on\" or \"Prompt\" Wi-Fi is turned on after you confirm."),
                checked_func = function() return M.daemon_settings.ask_before_enabling_wifi == true end,
                callback = function() toggle("ask_before_enabling_wifi") end,
            } },
        },
    }
end

function M.edit_setting(key, title, hint)
    local ctx = M.ctx
    local dialog
    dialog = InputDialog:new {
        title = title,
        input = ctx.settings()[key] or "",
        input_hint = hint,
        buttons = { {
            { text = _("Cancel"), id = "close", callback = function() UIManager:close(dialog) end },
            {
                text = _("Save"),
                is_enter_default = true,
                callback = function()
                    ctx.save_setting(key, dialog:getInputText())
                    UIManager:close(dialog)
                end,
            },
        } },
    }
    UIManager:show(dialog)
    dialog:onShowKeyboard()
end

function M.service_menu()
    local ctx = M.ctx
    return {
        {
            text_func = function() return T(_("Socket: %1"), ctx.socket_path()) end,
            keep_menu_open = true,
            callback = function()
                M.edit_setting("socket_path", _("Socket of booklore-syncd (empty: automatic)"), ctx.SOCKET_CANDIDATES[1])
            end,
        },
        {
            text_func = function() return T(_("Start command: %1"), ctx.start_command() or _("none")) end,
            keep_menu_open = true,
            callback = function()
                M.edit_setting("start_command", _("Script that starts the service (called with 'start')"), ctx.START_SCRIPTS[1])
            end,
        },
        {
            text = _("Start the service when KOReader starts"),
            checked_func = function() return ctx.settings().auto_start ~= false end,
            callback = function() ctx.save_setting("auto_start", ctx.settings().auto_start == false) end,
        },
        {
            text = _("Start the service now"),
            enabled_func = function() return ctx.start_command() ~= nil end,
            callback = function()
                ctx.start_daemon()
                show(_("BookLore Sync: starting the sync service…"), 2)
            end,
        },
    }
end

--- The Tools → BookLore Sync entry; `first` (the Settings submenu, if installed) goes on top.
function M.main_menu(first)
    local items = {
        { text = _("Sync Now"), callback = M.sync_now },
        {
            text = _("Manage Sessions"),
            sub_item_table = {
                { text = _("View Details"), keep_menu_open = true, callback = M.show_details },
                { text = _("Clear Pending"), keep_menu_open = true, callback = M.confirm_clear_pending },
            },
        },
        { text = _("Sync Settings"), sub_item_table_func = M.sync_settings_menu },
        { text = _("Service"), sub_item_table_func = M.service_menu },
    }
    if first then
        table.insert(items, 1, first)
    end
    return { text = _("BookLore Sync"), sorting_hint = "tools", sub_item_table = items }
end

return M
