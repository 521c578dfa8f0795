--[[--
BookLore Sync: the KOReader side of booklore-syncd.

The plugin does no HTTP and keeps no queue. It turns KOReader events into one-line JSON messages
on the daemon's Unix socket (session_end, book_deleted, resume, suspend, network_up, ...), each
bounded to a couple of hundred milliseconds, and listens on a subscription connection for the
daemon's wifi_needed and sync events. If the daemon is not running the user is told once, and
reading goes on; nothing is buffered here (the daemon's database is the only queue).

@module koplugin.bookloresync
]]

local ConfirmBox = require("ui/widget/confirmbox")
local DataStorage = require("datastorage")
local Device = require("device")
local Dispatcher = require("dispatcher")
local InfoMessage = require("ui/widget/infomessage")
local InputDialog = require("ui/widget/inputdialog")
local NetworkMgr = require("ui/network/manager")
local TextViewer = require("ui/widget/textviewer")
local UIManager = require("ui/uimanager")
local WidgetContainer = require("ui/widget/container/widgetcontainer")
local json = require("json")
local lfs = require("libs/libkoreader-lfs")
local logger = require("logger")
local util = require("util")
local _ = require("gettext")
local T = require("ffi/util").template

-- Our own modules: required at load time, while PluginLoader has our folder on package.path.
local Hash = require("booklore_hash")
local Ipc = require("booklore_ipc")

local SETTINGS_KEY = "bookloresync"
-- The subscription is polled from UIManager's task queue (a plugin cannot watch an fd). Quickly
-- for a minute after anything that may start a sync, slowly otherwise: every wake-up of the UI
-- loop shortens the device's standby naps.
local POLL_FAST_SECONDS = 2
local POLL_SLOW_SECONDS = 15
local FAST_WINDOW_SECONDS = 60
local RECONNECT_SECONDS = 30    -- how often to retry a lost subscription
local WIFI_MESSAGE = _("A sync is ready to run. Enable WiFi to upload pending sessions?")
local CLEAR_WARNING = _("This permanently deletes all queued sessions. They will not be uploaded to BookLore. Only use this to remove test data or sessions you do not want.")

-- Where each platform's packaging puts the socket (see packaging/README.md).
local SOCKET_CANDIDATES = {
    "/tmp/booklore-syncd.sock",                -- Kobo, PocketBook
    "/var/tmp/booklore-syncd.sock",            -- Kindle
    "/run/booklore-sync/booklore-syncd.sock",  -- systemd
    "/var/run/booklore-syncd.sock",            -- generic SysV init
}
-- Scripts that can start the daemon, if the platform package installed one.
local START_SCRIPTS = {
    "/usr/local/booklore-sync/booklore-syncd.init",            -- Kobo (KoboRoot.tgz)
    "/mnt/us/extensions/booklore-sync/bin/booklore-sync.sh",   -- Kindle (KUAL extension)
}

local BOOK_TYPES = {
    pdf = "PDF", epub = "EPUB", kepub = "EPUB", fb2 = "FB2", fbz = "FB2", mobi = "MOBI",
    azw3 = "AZW3", azw = "AZW3", cbz = "CBX", cbr = "CBX", cb7 = "CBX", cbt = "CBX",
}

-- State shared by every instance of the plugin (one per FileManager / ReaderUI): there is one
-- daemon, one subscription and one "the daemon is not running" notice per KOReader run.
local shared = {
    client = nil,
    subscription = nil,
    last_subscribe_attempt = 0,
    polling = false,
    suspended = false,
    warned = false,
    start_attempted = false,
    wifi_dialog = nil,
    standby_prevented = false,
    report_next_sync = false,
    daemon_settings = {},
    filemanager_patched = false,
    fast_until = 0,
}

-- Requests after which the daemon may start a sync (and send events soon).
local SYNC_TRIGGERS = {
    session_end = true, resume = true, sync_now = true, network_up = true, network_down = true,
    book_deleted = true, set_settings = true,
}
local poll_fast -- defined with the subscription code below

local function plugin_settings()
    return G_reader_settings:readSetting(SETTINGS_KEY) or {}
end

local function save_plugin_setting(key, value)
    local s = plugin_settings()
    s[key] = value
    G_reader_settings:saveSetting(SETTINGS_KEY, s)
end

local function file_exists(path)
    return path and lfs.attributes(path, "mode") ~= nil
end

local function socket_path()
    local configured = plugin_settings().socket_path
    if configured and configured ~= "" then
        return configured
    end
    for _i, p in ipairs(SOCKET_CANDIDATES) do
        if lfs.attributes(p, "mode") == "socket" then
            return p
        end
    end
    if Device:isKindle() then
        return SOCKET_CANDIDATES[2]
    elseif Device:isKobo() or Device:isPocketBook() then
        return SOCKET_CANDIDATES[1]
    end
    return SOCKET_CANDIDATES[3]
end

local function start_command()
    local s = plugin_settings()
    if s.start_command ~= nil then
        return s.start_command ~= "" and s.start_command or nil
    end
    for _i, script in ipairs(START_SCRIPTS) do
        if lfs.attributes(script, "mode") == "file" then
            return script
        end
    end
end

local function client()
    if not shared.client then
        shared.client = Ipc.new {
            socket_path = socket_path,
            encode = json.encode,
            decode = json.decode,
        }
    end
    return shared.client
end

local function book_type(path)
    local ext = path and path:match("%.([^./]+)$")
    if ext and ext:lower() == "zip" then
        ext = path:match("%.([^./]+)%.[Zz][Ii][Pp]$")
    end
    return ext and BOOK_TYPES[ext:lower()]
end

local function title_from_path(path)
    local name = path and path:match("([^/]+)$") or path
    return name and (name:gsub("%.[^.]+$", ""))
end

-- KOReader's own partial MD5 when it has one; ours otherwise (with KOReader's C md5 if present).
local function partial_md5(path)
    if util.partialMD5 then
        local ok, hash = pcall(util.partialMD5, path)
        if ok and type(hash) == "string" and #hash == 32 then
            return hash:lower()
        end
    end
    local md5
    local ok, sha2 = pcall(require, "ffi/sha2")
    if ok and type(sha2) == "table" and sha2.md5 then
        md5 = sha2.md5
    end
    local hash = Hash.partial_md5(path, md5)
    return hash and hash:lower()
end

local function format_duration(seconds)
    seconds = math.floor(tonumber(seconds) or 0)
    local h, m, s = math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60
    if h > 0 then
        return string.format("%dh %dm %ds", h, m, s)
    elseif m > 0 then
        return string.format("%dm %ds", m, s)
    end
    return string.format("%ds", s)
end

-- Text for a reply field; JSON null (whatever the decoder makes of it) and absence become "".
local function str(value)
    local t = type(value)
    if t == "string" then
        return value
    elseif t == "number" or t == "boolean" then
        return tostring(value)
    end
    return ""
end

local function describe(value)
    if type(value) ~= "table" then
        return tostring(value)
    end
    local keys = {}
    for k in pairs(value) do
        keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    local parts = {}
    for _i, k in ipairs(keys) do
        local v = value[k]
        if type(v) ~= "table" and type(v) ~= "function" and type(v) ~= "userdata" then
            parts[#parts + 1] = k .. ": " .. str(v)
        end
    end
    return table.concat(parts, ", ")
end

local function show_message(text, timeout)
    UIManager:show(InfoMessage:new { text = text, timeout = timeout })
end

local function set_standby_prevented(prevent)
    if prevent == shared.standby_prevented or not UIManager.preventStandby then
        return
    end
    shared.standby_prevented = prevent
    if prevent then
        UIManager:preventStandby()
    else
        UIManager:allowStandby()
    end
end

local function try_start_daemon()
    local cmd = start_command()
    if not cmd then
        return false
    end
    logger.info("BookLoreSync: starting the daemon with", cmd)
    -- Backgrounded: the script may wait for the socket, the UI must not.
    os.execute("'" .. cmd:gsub("'", "'\\''") .. "' start </dev/null >/dev/null 2>&1 &")
    return true
end

-- Sends one message; tells the user once if the daemon cannot be reached. Returns the reply
-- table, or nil, code, message.
local function send(msg, opts)
    opts = opts or {}
    local reply, code, message = client():request(msg, opts.timeout_ms)
    if reply then
        shared.warned = false
        if SYNC_TRIGGERS[msg.type] then
            poll_fast()
        end
        if reply.ok == false then
            logger.warn("BookLoreSync:", msg.type, "refused:", reply.error and reply.error.code,
                reply.error and reply.error.message)
        end
        return reply
    end
    logger.warn("BookLoreSync:", msg.type, "not delivered:", code, message)
    if code == "unavailable" then
        if not shared.start_attempted and plugin_settings().auto_start ~= false then
            shared.start_attempted = try_start_daemon()
        end
        if not shared.warned and not opts.quiet then
            shared.warned = true
            show_message(T(_("BookLore Sync: the sync service (booklore-syncd) is not running, so reading sessions are not being recorded.\n\n%1"), message))
        end
    end
    return nil, code, message
end

local function answer_wifi(enable)
    local msg = { type = "wifi_answer", enable = enable }
    local sub = shared.subscription
    if not (sub and sub.alive and sub:send(msg)) then
        send(msg, { quiet = true })
    end
end

local function enable_wifi(interactive)
    if NetworkMgr.enableWifi then
        NetworkMgr:enableWifi(nil, interactive)
    elseif NetworkMgr.turnOnWifi then
        NetworkMgr:turnOnWifi()
    end
end

local function on_wifi_needed(event)
    if NetworkMgr.isConnected and NetworkMgr:isConnected() then
        -- We are online after all (the daemon's view is stale): say so instead of asking.
        send({ type = "network_up" }, { quiet = true })
        return
    end
    if not event.ask then
        enable_wifi(false)
        return
    end
    if shared.wifi_dialog then
        return -- already asking
    end
    shared.wifi_dialog = ConfirmBox:new {
        text = _("Enable WiFi now?") .. "\n\n" .. (str(event.message) ~= "" and event.message or WIFI_MESSAGE),
        ok_text = _("Confirm"),
        cancel_text = _("Cancel"),
        dismissable = false, -- an answer is owed to the daemon: Confirm or Cancel only
        ok_callback = function()
            shared.wifi_dialog = nil
            answer_wifi(true)
            enable_wifi(true)
        end,
        cancel_callback = function()
            shared.wifi_dialog = nil
            answer_wifi(false)
        end,
    }
    UIManager:show(shared.wifi_dialog)
end

local function on_sync_finished(result)
    set_standby_prevented(false)
    if not shared.report_next_sync then
        return
    end
    shared.report_next_sync = false
    result = type(result) == "table" and result or {}
    if result.network == "down" then
        show_message(_("BookLore Sync: no network. Sessions stay queued until WiFi is on."), 3)
        return
    end
    show_message(T(_("BookLore Sync:\n%1 sessions uploaded, %2 failed\n%3 deletions done\n%4 sessions still queued"),
        result.sessions_uploaded or 0, result.sessions_failed or 0, result.deletions_done or 0,
        result.pending_sessions or 0), 4)
end

local function handle_daemon_line(msg)
    if msg.event == "wifi_needed" then
        on_wifi_needed(msg)
    elseif msg.event == "sync_started" then
        set_standby_prevented(true)
    elseif msg.event == "sync_finished" then
        on_sync_finished(msg.result)
    elseif msg.ok == false then
        logger.warn("BookLoreSync: daemon said", msg.error and msg.error.code)
    end
end

local poll_tick
local function schedule_poll()
    if not shared.polling and not shared.suspended then
        shared.polling = true
        local fast = os.time() < shared.fast_until or shared.standby_prevented or shared.wifi_dialog
        UIManager:scheduleIn(fast and POLL_FAST_SECONDS or POLL_SLOW_SECONDS, poll_tick)
    end
end

-- Something that may start a sync was sent: listen closely for a while.
function poll_fast()
    shared.fast_until = os.time() + FAST_WINDOW_SECONDS
    if shared.polling and not shared.suspended then
        UIManager:unschedule(poll_tick)
        shared.polling = false
    end
    schedule_poll()
end

function poll_tick()
    shared.polling = false
    if shared.suspended then
        return
    end
    local sub = shared.subscription
    if not (sub and sub.alive) then
        local now = os.time()
        if now - shared.last_subscribe_attempt >= RECONNECT_SECONDS then
            shared.last_subscribe_attempt = now
            shared.subscription = client():subscribe()
            sub = shared.subscription
        end
    end
    if sub and sub.alive then
        for _i, msg in ipairs(sub:poll()) do
            local ok, err = pcall(handle_daemon_line, msg)
            if not ok then
                logger.warn("BookLoreSync: handling", msg.event, "failed:", err)
            end
        end
        if not sub.alive then
            set_standby_prevented(false)
        end
    end
    schedule_poll()
end

-- Wraps FileManager's delete functions once: the fingerprint is taken before the file goes, the
-- event is sent after, and only if the file is really gone.
local function before_delete(path)
    if lfs.attributes(path, "mode") == "directory" then
        -- Every book below goes with it; no hashing (that could take long), the daemon knows the
        -- fingerprints of books it saw opened.
        local books = {}
        local function walk(dir, depth)
            if depth > 8 or #books >= 1000 then
                return
            end
            for name in lfs.dir(dir) do
                if name ~= "." and name ~= ".." then
                    local p = dir .. "/" .. name
                    local mode = lfs.attributes(p, "mode")
                    if mode == "directory" and not name:match("%.sdr$") then
                        walk(p, depth + 1)
                    elseif mode == "file" and book_type(p) then
                        books[#books + 1] = { path = p }
                    end
                end
            end
        end
        pcall(walk, path, 0)
        return books
    end
    if lfs.attributes(path, "mode") ~= "file" then
        return {}
    end
    local ok, DocumentRegistry = pcall(require, "document/documentregistry")
    if not book_type(path) and not (ok and DocumentRegistry:hasProvider(path)) then
        return {}
    end
    local hash
    local ds_ok, DocSettings = pcall(require, "docsettings")
    if ds_ok and DocSettings.hasSidecarFile and DocSettings:hasSidecarFile(path) then
        local opened, ds = pcall(DocSettings.open, DocSettings, path)
        hash = opened and ds and ds:readSetting("partial_md5_checksum")
    end
    return { { path = path, hash = hash or partial_md5(path) } }
end

local function after_delete(books)
    for _i, book in ipairs(books) do
        if not file_exists(book.path) then
            -- Keyed by path and content: two copies of one book deleted together are two events.
            local key = Hash.md5_hex(book.path .. "\0" .. (book.hash or ""))
            send {
                type = "book_deleted",
                file_path = book.path,
                book_hash = book.hash,
                event_id = "del-" .. key .. "-" .. os.time(),
            }
        end
    end
end

local function pack(...)
    return { n = select("#", ...), ... }
end

local function patch_filemanager()
    if shared.filemanager_patched then
        return
    end
    local ok, FileManager = pcall(require, "apps/filemanager/filemanager")
    if not ok or type(FileManager) ~= "table" then
        return
    end
    shared.filemanager_patched = true
    local delete_file = FileManager.deleteFile
    if delete_file then
        FileManager.deleteFile = function(fm, file, ...)
            local ok_before, books = pcall(before_delete, file)
            local result = pack(delete_file(fm, file, ...))
            if ok_before then
                pcall(after_delete, books)
            end
            return unpack(result, 1, result.n)
        end
    end
    local delete_selected = FileManager.deleteSelectedFiles
    if delete_selected then
        FileManager.deleteSelectedFiles = function(fm, ...)
            local books = {}
            for file in pairs(fm.selected_files or {}) do
                local ok_before, found = pcall(before_delete, file)
                if ok_before then
                    for _i, b in ipairs(found) do
                        books[#books + 1] = b
                    end
                end
            end
            local result = pack(delete_selected(fm, ...))
            pcall(after_delete, books)
            return unpack(result, 1, result.n)
        end
    end
end

local BookloreSync = WidgetContainer:extend {
    name = "bookloresync",
    is_doc_only = false,
}

function BookloreSync:init()
    self:onDispatcherRegisterActions()
    if self.ui and self.ui.menu then
        self.ui.menu:registerToMainMenu(self)
    end
    patch_filemanager()
    if not shared.start_attempted and plugin_settings().auto_start ~= false then
        local reply = client():request { type = "status" }
        if not reply then
            shared.start_attempted = try_start_daemon()
        end
    end
    shared.suspended = false
    schedule_poll()
end

function BookloreSync:onDispatcherRegisterActions()
    Dispatcher:registerAction("booklore_sync_pending", {
        category = "none",
        event = "SyncBooklorePending",
        title = _("BookLore Sync: sync pending sessions"),
        general = true,
    })
end

-- Reading position as (percent, location string); nil when the document cannot tell.
function BookloreSync:position()
    local ok, progress, location = pcall(function()
        local doc = self.ui.document
        local total = doc:getPageCount()
        local page
        if self.ui.paging then
            page = (self.view and self.view.state and self.view.state.page) or self.ui.paging:getCurrentPage()
        else
            page = doc:getCurrentPage()
        end
        if not page or not total or total <= 0 then
            return nil
        end
        return math.max(0, math.min(100, page / total * 100)), tostring(page)
    end)
    if ok then
        return progress, location
    end
end

function BookloreSync:startSession()
    local doc = self.ui and self.ui.document
    if not doc or not doc.file then
        return
    end
    local path = doc.file
    local hash = self.ui.doc_settings and self.ui.doc_settings:readSetting("partial_md5_checksum")
    hash = hash and hash:lower() or partial_md5(path)
    if not hash then
        logger.warn("BookLoreSync: no fingerprint for", path)
        return
    end
    local title
    local props = self.ui.doc_props
    if props then
        title = props.display_title or props.title
    end
    if not title or title == "" then
        title = title_from_path(path)
    end
    local progress, location = self:position()
    local now = os.time()
    self.session = {
        book_hash = hash,
        file_path = path,
        title = title,
        book_type = book_type(path),
        start_time = now,
        start_progress = progress,
        start_location = location,
        event_id = hash .. "-" .. now,
    }
end

function BookloreSync:endSession()
    local s = self.session
    self.session = nil
    if not s then
        return
    end
    local progress, location = self:position()
    local end_time = math.max(os.time(), s.start_time)  -- a clock stepped back must not make end < start
    send {
        type = "session_end",
        book_hash = s.book_hash,
        file_path = s.file_path,
        title = s.title,
        book_type = s.book_type,
        start_time = s.start_time,
        end_time = end_time,
        duration_seconds = end_time - s.start_time,
        start_progress = s.start_progress,
        end_progress = progress,
        start_location = s.start_location,
        end_location = location,
        event_id = s.event_id,
    }
end

function BookloreSync:onReaderReady()
    self:startSession()
    if self.session then
        send { type = "book_opened", file_path = self.session.file_path, book_hash = self.session.book_hash }
    end
end

function BookloreSync:onCloseDocument()
    self:endSession()
end

function BookloreSync:onSuspend()
    self:endSession()
    send({ type = "suspend" }, { quiet = true })
    shared.suspended = true
    set_standby_prevented(false)
    if shared.polling then
        UIManager:unschedule(poll_tick)
        shared.polling = false
    end
end

function BookloreSync:onResume()
    shared.suspended = false
    send({ type = "resume" }, { quiet = true })
    if self.ui and self.ui.document then
        self:startSession()
    end
    schedule_poll()
end

function BookloreSync:onNetworkConnected()
    send({ type = "network_up" }, { quiet = true })
end

function BookloreSync:onNetworkDisconnected()
    send({ type = "network_down" }, { quiet = true })
end

function BookloreSync:syncNow()
    local reply, code, message = send { type = "sync_now", wait = false }
    if not reply then
        if message and shared.warned then
            return true -- the "not running" notice was just shown
        end
        show_message(T(_("BookLore Sync: cannot reach the sync service.\n\n%1"), message or ""))
    elseif reply.ok == false then
        show_message(T(_("BookLore Sync: %1"), reply.error and reply.error.message or _("sync refused")))
    else
        shared.report_next_sync = true
        show_message(_("BookLore Sync: sync started."), 2)
    end
    return true
end

function BookloreSync:onSyncBooklorePending()
    return self:syncNow()
end

function BookloreSync:detailsText()
    local status, code, message = send { type = "status" }
    if not status then
        return T(_("The sync service cannot be reached (%1).\n\n%2\n\nSocket: %3"), code, message, socket_path())
    end
    if status.ok == false then
        return T(_("The sync service refused: %1"), status.error and status.error.message or "?")
    end
    shared.daemon_settings = status.settings or shared.daemon_settings
    local lines = {
        T(_("Pending sessions: %1 (not yet matched to a book: %2)"), status.pending_sessions or 0, status.unresolved_sessions or 0),
        T(_("Pending deletions: %1"), status.pending_deletions or 0),
        T(_("Uploaded sessions: %1"), status.historical_sessions or 0),
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
    lines[#lines + 1] = T(_("Service version: %1 · socket: %2"), str(status.version), socket_path())
    local pending = send { type = "list_pending", limit = 100 }
    if pending and pending.ok ~= false then
        if pending.sessions and #pending.sessions > 0 then
            lines[#lines + 1] = ""
            lines[#lines + 1] = _("Queued sessions:")
            for _i, row in ipairs(pending.sessions) do
                local name = str(row.title) ~= "" and row.title or str(row.book_hash):sub(1, 8)
                local line = string.format("#%s %s · %s · %s", str(row.id), name,
                    format_duration(row.duration_seconds), str(row.created_at))
                if (tonumber(row.retry_count) or 0) > 0 then
                    line = line .. T(_(" · tries: %1"), row.retry_count)
                end
                if type(row.last_error) == "string" and row.last_error ~= "" then
                    line = line .. " · " .. row.last_error
                end
                lines[#lines + 1] = line
            end
        end
        if pending.deletions and #pending.deletions > 0 then
            lines[#lines + 1] = ""
            lines[#lines + 1] = _("Queued deletions:")
            for _i, row in ipairs(pending.deletions) do
                lines[#lines + 1] = string.format("#%s %s", str(row.id), str(row.file_path))
            end
        end
    end
    return table.concat(lines, "\n")
end

function BookloreSync:showDetails()
    UIManager:show(TextViewer:new {
        title = _("BookLore Sync"),
        text = self:detailsText(),
    })
end

function BookloreSync:confirmClearPending()
    UIManager:show(ConfirmBox:new {
        text = CLEAR_WARNING,
        ok_text = _("Clear"),
        ok_callback = function()
            local reply, code, message = send { type = "clear_pending", confirm = true }
            if reply and reply.ok then
                show_message(T(_("BookLore Sync: %1 queued sessions deleted."), reply.cleared or 0), 3)
            elseif reply then
                show_message(T(_("BookLore Sync: %1"), reply.error and reply.error.message or "?"))
            elseif message then
                show_message(T(_("BookLore Sync: cannot reach the sync service.\n\n%1"), message))
            end
        end,
    })
end

function BookloreSync:setDaemonSetting(key, value)
    local reply, code, message = send { type = "set_settings", [key] = value }
    if reply and reply.ok and type(reply.settings) == "table" then
        shared.daemon_settings = reply.settings
    elseif reply then
        show_message(T(_("BookLore Sync: %1"), reply.error and reply.error.message or "?"))
    elseif message then
        show_message(T(_("BookLore Sync: cannot reach the sync service.\n\n%1"), message))
    end
end

function BookloreSync:syncSettingsMenu()
    local status = send({ type = "status" }, { quiet = true })
    if status and type(status.settings) == "table" then
        shared.daemon_settings = status.settings
    end
    return {
        {
            text = _("Manual Sync Only"),
            help_text = _("Sessions are only queued; they are uploaded when you choose Sync Now."),
            checked_func = function() return shared.daemon_settings.manual_sync_only == true end,
            callback = function()
                self:setDaemonSetting("manual_sync_only", shared.daemon_settings.manual_sync_only ~= true)
            end,
        },
        {
            text = _("Sync Triggers"),
            sub_item_table = {
                {
                    text = _("Ask before enabling WiFi"),
                    help_text = _("When a sync is due and WiFi is off, ask before turning it on. Otherwise WiFi is turned on without asking."),
                    checked_func = function() return shared.daemon_settings.ask_before_enabling_wifi == true end,
                    callback = function()
                        self:setDaemonSetting("ask_before_enabling_wifi", shared.daemon_settings.ask_before_enabling_wifi ~= true)
                    end,
                },
            },
        },
    }
end

function BookloreSync:editPluginSetting(key, title, hint)
    local dialog
    dialog = InputDialog:new {
        title = title,
        input = plugin_settings()[key] or "",
        input_hint = hint,
        buttons = { {
            { text = _("Cancel"), id = "close", callback = function() UIManager:close(dialog) end },
            {
                text = _("Save"),
                is_enter_default = true,
                callback = function()
                    save_plugin_setting(key, dialog:getInputText())
                    shared.warned = false
                    if shared.subscription then
                        shared.subscription:close()
                        shared.last_subscribe_attempt = 0
                    end
                    UIManager:close(dialog)
                end,
            },
        } },
    }
    UIManager:show(dialog)
    dialog:onShowKeyboard()
end

function BookloreSync:serviceMenu()
    return {
        {
            text_func = function() return T(_("Socket: %1"), socket_path()) end,
            keep_menu_open = true,
            callback = function()
                self:editPluginSetting("socket_path", _("Socket of booklore-syncd (empty: automatic)"), SOCKET_CANDIDATES[1])
            end,
        },
        {
            text_func = function() return T(_("Start command: %1"), start_command() or _("none")) end,
            keep_menu_open = true,
            callback = function()
                self:editPluginSetting("start_command", _("Script that starts the service (called with 'start')"), START_SCRIPTS[1])
            end,
        },
        {
            text = _("Start the service when KOReader starts"),
            checked_func = function() return plugin_settings().auto_start ~= false end,
            callback = function() save_plugin_setting("auto_start", plugin_settings().auto_start == false) end,
        },
        {
            text = _("Start the service now"),
            enabled_func = function() return start_command() ~= nil end,
            callback = function()
                shared.warned = false
                try_start_daemon()
                show_message(_("BookLore Sync: starting the sync service…"), 2)
            end,
        },
    }
end

function BookloreSync:addToMainMenu(menu_items)
    menu_items.bookloresync = {
        text = _("BookLore Sync"),
        sorting_hint = "tools",
        sub_item_table = {
            {
                text = _("Sync Now"),
                callback = function() self:syncNow() end,
            },
            {
                text = _("Manage Sessions"),
                sub_item_table = {
                    {
                        text = _("View Details"),
                        keep_menu_open = true,
                        callback = function() self:showDetails() end,
                    },
                    {
                        text = _("Clear Pending"),
                        keep_menu_open = true,
                        callback = function() self:confirmClearPending() end,
                    },
                },
            },
            {
                text = _("Sync Settings"),
                sub_item_table_func = function() return self:syncSettingsMenu() end,
            },
            {
                text = _("Service"),
                sub_item_table_func = function() return self:serviceMenu() end,
            },
        },
    }
end

-- For the tests: the pieces that have no KOReader widget in them.
BookloreSync._private = {
    shared = shared,
    book_type = book_type,
    poll_tick = poll_tick,
    socket_path = socket_path,
    settings_dir = function() return DataStorage:getSettingsDir() end,
}

return BookloreSync
