--[[--
BookLore Sync: the KOReader side of booklore-syncd.

The plugin does no HTTP. It turns KOReader events into one-line JSON messages on the daemon's
Unix socket. Sessions and deletions are kept in the plugin's outbox until the daemon has them
(booklore_link.lua), sessions are measured as KOReader measures reading (booklore_session.lua),
and the daemon's wifi_needed goes through KOReader's own Wi-Fi policy (booklore_wifi.lua).
Nothing here waits for the daemon, and nothing is scheduled while nothing is pending.

@module koplugin.bookloresync
]]

local DataStorage = require("datastorage")
local Device = require("device")
local Dispatcher = require("dispatcher")
local InfoMessage = require("ui/widget/infomessage")
local UIManager = require("ui/uimanager")
local WidgetContainer = require("ui/widget/container/widgetcontainer")
local json = require("json")
local lfs = require("libs/libkoreader-lfs")
local logger = require("logger")
local _ = require("gettext")
local T = require("ffi/util").template

-- Our own modules: required at load time, while PluginLoader has our folder on package.path.
local Delete = require("booklore_delete")
local Ipc = require("booklore_ipc")
local Link = require("booklore_link")
local Menu = require("booklore_menu")
local Outbox = require("booklore_outbox")
local Session = require("booklore_session")
local Wifi = require("booklore_wifi")

local SETTINGS_KEY = "bookloresync"
local OUTBOX_FILE = "bookloresync-outbox.jsonl"

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

-- State shared by every instance of the plugin (one per FileManager / ReaderUI): one daemon,
-- one outbox, one "the daemon is not running" notice per KOReader run, and the session that a
-- reload (PreserveCurrentSession) hands from one ReaderUI to the next.
local shared = {
    client = nil,
    warned = false,
    start_attempted = false,
    report_next_sync = false,
    preserved = nil,
}

local function plugin_settings()
    return G_reader_settings:readSetting(SETTINGS_KEY) or {}
end

local function save_plugin_setting(key, value)
    local s = plugin_settings()
    s[key] = value
    G_reader_settings:saveSetting(SETTINGS_KEY, s)
    shared.warned = false
    Link.stop() -- the socket may have changed: reconnect on the next message
    Link.resume()
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

local function try_start_daemon()
    shared.warned = false
    local cmd = start_command()
    if not cmd then
        return false
    end
    logger.info("BookLoreSync: starting the daemon with", cmd)
    -- Backgrounded: the script may wait for the socket, the UI must not.
    os.execute("'" .. cmd:gsub("'", "'\\''") .. "' start </dev/null >/dev/null 2>&1 &")
    return true
end

local function on_unreachable(code, message, quiet)
    if code ~= "unavailable" then
        return
    end
    if not shared.start_attempted and plugin_settings().auto_start ~= false then
        shared.start_attempted = try_start_daemon()
    end
    if not shared.warned and not quiet then
        shared.warned = true
        UIManager:show(InfoMessage:new {
            text = T(_("BookLore Sync: the sync service (booklore-syncd) is not running. Reading sessions are kept on this reader and handed to it when it runs.\n\n%1"), Menu.str(message)),
        })
    end
end

local function on_event(msg)
    if msg.event == "wifi_needed" then
        Wifi.on_needed(msg)
    elseif msg.event == "sync_finished" then
        Wifi.on_sync_finished()
        local result = type(msg.result) == "table" and msg.result or {}
        if shared.report_next_sync then
            shared.report_next_sync = false
            if result.network == "down" then
                UIManager:show(InfoMessage:new { text = _("BookLore Sync: no network. Sessions stay queued until Wi-Fi is on."), timeout = 3 })
            else
                UIManager:show(InfoMessage:new {
                    text = T(_("BookLore Sync:\n%1 sessions uploaded, %2 failed\n%3 deletions done\n%4 sessions still queued"),
                        Menu.num(result.sessions_uploaded), Menu.num(result.sessions_failed),
                        Menu.num(result.deletions_done), Menu.num(result.pending_sessions)),
                    timeout = 4,
                })
            end
        end
    end
end

local function client()
    if not shared.client then
        shared.client = Ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode }
        Link.setup {
            client = shared.client,
            outbox = Outbox.open(DataStorage:getSettingsDir() .. "/" .. OUTBOX_FILE, json.encode, json.decode),
            on_event = on_event,
            on_unreachable = on_unreachable,
        }
        Wifi.setup(Link)
        Menu.setup {
            request = function(msg) return shared.client:request(msg) end,
            link = Link,
            socket_path = socket_path,
            start_command = start_command,
            settings = plugin_settings,
            save_setting = save_plugin_setting,
            start_daemon = try_start_daemon,
            report_next_sync = function(on)
                if on ~= nil then
                    shared.report_next_sync = on
                end
                return shared.report_next_sync
            end,
            SOCKET_CANDIDATES = SOCKET_CANDIDATES,
            START_SCRIPTS = START_SCRIPTS,
        }
    end
    return shared.client
end

local BookloreSync = WidgetContainer:extend {
    name = "bookloresync",
    settings_key = SETTINGS_KEY, -- PluginLoader's "delete settings" removes it (pluginloader.lua:544)
    is_doc_only = false,
}

function BookloreSync:init()
    client()
    self:onDispatcherRegisterActions()
    if self.ui and self.ui.menu then
        self.ui.menu:registerToMainMenu(self)
    end
    Delete.patch(Link)
    if not shared.start_attempted and plugin_settings().auto_start ~= false and not Link.reachable() then
        shared.start_attempted = try_start_daemon()
    end
    -- KOReader's start (and every new reader/file-manager view): hand over what waits.
    Link.resume()
    Link.send(nil, { quiet = true })
end

--- PluginLoader:stopPluginInstance (pluginloader.lua:557-565): no task, no connection left.
function BookloreSync:stopPlugin()
    self.session = nil
    Link.stop()
end

function BookloreSync:onDispatcherRegisterActions()
    Dispatcher:registerAction("booklore_sync_pending", {
        category = "none",
        event = "SyncBooklorePending",
        title = _("BookLore Sync: sync pending sessions"),
        general = true,
    })
end

function BookloreSync:startSession()
    if not (self.ui and self.ui.document) then
        return
    end
    self.session = Session.start(self.ui, os.time())
end

--- Ends the session and keeps its session_end; quiet: no notice (the device is going to sleep).
function BookloreSync:endSession(quiet)
    local s = self.session
    self.session = nil
    if s then
        Link.keep({ s:finish(self.ui, os.time()) }, { quiet = quiet, trigger = true })
    end
end

function BookloreSync:onReaderReady()
    local preserved = shared.preserved
    shared.preserved = nil
    if preserved and self.ui.document and preserved.file_path == self.ui.document.file then
        self.session = preserved -- a reload is the same session (statistics does the same, main.lua:245-248)
        return
    end
    self:startSession()
    if self.session then
        Link.send({ type = "book_opened", file_path = self.session.file_path, book_hash = self.session.book_hash,
            title = self.session.title, isbn = self.session.isbn }, { quiet = true })
    end
end

-- Statistics' page rule: on every page change (PageUpdate for both kinds of document, PosUpdate
-- in scroll mode; readerrolling/readerpaging send them).
function BookloreSync:onPageUpdate(page)
    if self.session and page then
        self.session:turn(page, os.time())
    end
end

function BookloreSync:onPosUpdate(_pos, page)
    self:onPageUpdate(page)
end

-- ReaderUI:reloadDocument sends this before CloseDocument (readerui.lua:950 at fc88887).
function BookloreSync:onPreserveCurrentSession()
    shared.preserved = self.session
    self.session = nil
end

function BookloreSync:onCloseDocument()
    self:endSession(false)
end

-- Device:_beforeSuspend broadcasts Suspend (device/generic/device.lua:1094-1096): the session
-- ends quietly, nothing is shown on the sleep screen, and no task is left to wake the device.
function BookloreSync:onSuspend()
    self:endSession(true)
    Link.send({ type = "suspend" }, { quiet = true })
    Link.suspend()
end

function BookloreSync:onResume()
    Link.resume()
    Link.send({ type = "resume" }, {
        quiet = true,
        on_reply = function(reply)
            local delay = reply and reply.ok and reply.sync_in_seconds
            if type(delay) == "number" then
                Link.watch(delay) -- the daemon's wake sync comes after its delay
                Link.schedule()
            end
        end,
    })
    self:startSession()
end

function BookloreSync:onNetworkConnected()
    Link.send({ type = "network_up" }, { quiet = true, trigger = true })
end

function BookloreSync:onNetworkDisconnected()
    Link.send({ type = "network_down" }, { quiet = true })
end

function BookloreSync:onSyncBooklorePending()
    return Menu.sync_now()
end

function BookloreSync:addToMainMenu(menu_items)
    -- The Settings submenu (server, accounts, ...) lives in its own module when installed.
    local ok, settings = pcall(require, "booklore_settings")
    menu_items.bookloresync = Menu.main_menu(ok and type(settings) == "table" and settings.menu_item(self) or nil)
end

-- For the tests.
BookloreSync._private = { shared = shared, link = Link, wifi = Wifi, menu = Menu, socket_path = socket_path }

return BookloreSync
