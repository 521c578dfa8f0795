-- Just enough of KOReader for the plugin to load and run under plain luajit, behaving as KOReader
-- behaves where the plugin depends on it. Each piece names the KOReader code it copies
-- (koreader/koreader fc88887662c2, koreader-base ab4cb58b3cbc). Time is virtual: K.advance()
-- moves the monotonic clock and os.time() together and runs the tasks that fall due.

local json = require("json_min")

-- KOReader's LuaJIT is built with Lua 5.2 extensions (table.pack); Debian's luajit is not.
local function pack(...) return { n = select("#", ...), ... } end

local K = {
    shown = {},          -- widgets passed to UIManager:show, in order
    actions = {},        -- Dispatcher actions by name
    instances = {},      -- plugin instances that receive broadcast events
    now = 0,             -- monotonic seconds (UIManager's time.now())
    clock = 1767225600,  -- wall clock seconds at now == 0
    wakeups = 0,         -- distinct times the task queue woke the device
    settings = {},       -- G_reader_settings
    settings_dir = "/tmp",
    radio = false,       -- the stub's Wi-Fi radio
    connected = false,
    turn_on_calls = 0,
    turn_off_calls = 0,
    timer = nil,         -- a millisecond clock: when set, the time tasks take adds up in task_ms
    task_ms = 0,
}

local function shell_test(flag, path)
    return os.execute("test " .. flag .. " '" .. path:gsub("'", "'\\''") .. "'") == 0
end

local lfs = {}
function lfs.attributes(path, what)
    assert(what == "mode", "stub lfs only knows 'mode'")
    if shell_test("-S", path) then return "socket" end
    if shell_test("-d", path) then return "directory" end
    if shell_test("-f", path) then return "file" end
    if shell_test("-e", path) then return "other" end
    return nil
end
function lfs.dir(path)
    local p = io.popen("ls -a '" .. path:gsub("'", "'\\''") .. "'")
    local names = {}
    for line in p:lines() do names[#names + 1] = line end
    p:close()
    local i = 0
    return function()
        i = i + 1
        return names[i]
    end
end

-- UIManager's task queue: frontend/ui/uimanager.lua:300-356 (schedule, scheduleIn with extra
-- arguments), :445-455 (unschedule removes every task of that action), :1001-1006
-- (getNextTaskTime), :1008-1034 (_checkTasks runs due tasks, including ones they schedule).
local UIManager = { _task_queue = {}, _prevent_standby_count = 0 }
function UIManager:show(widget) K.shown[#K.shown + 1] = widget end
function UIManager:close() end
function UIManager:forceRePaint() end
function UIManager:schedule(at, action, ...)
    assert(action ~= nil, "No action")
    local q = self._task_queue
    local i = #q + 1
    while i > 1 and q[i - 1].time > at do i = i - 1 end  -- ascending here; order of equal times kept
    table.insert(q, i, { time = at, action = action, args = pack(...) })
end
function UIManager:scheduleIn(seconds, action, ...)
    assert(seconds >= 0, "Only positive seconds allowed")
    self:schedule(K.now + seconds, action, ...)
end
function UIManager:nextTick(action, ...) return self:scheduleIn(0, action, ...) end
function UIManager:unschedule(action)
    for i = #self._task_queue, 1, -1 do
        if self._task_queue[i].action == action then table.remove(self._task_queue, i) end
    end
end
function UIManager:getNextTaskTime()
    local t = self._task_queue[1]
    return t and t.time - K.now
end
function UIManager:broadcastEvent(event) K.broadcast(event.name, unpack(event.args or {})) end
function UIManager:preventStandby() self._prevent_standby_count = self._prevent_standby_count + 1 end
function UIManager:allowStandby()
    assert(self._prevent_standby_count > 0, "allowing standby that isn't prevented") -- uimanager.lua:1649
    self._prevent_standby_count = self._prevent_standby_count - 1
end
K.UIManager = UIManager

--- Tasks waiting in the queue.
function K.pending_tasks() return #UIManager._task_queue end

--- Moves time on by `seconds`, running every task that falls due, in order.
function K.advance(seconds)
    local stop = K.now + seconds
    while UIManager._task_queue[1] and UIManager._task_queue[1].time <= stop do
        local at = UIManager._task_queue[1].time
        K.now = math.max(K.now, at)
        K.wakeups = K.wakeups + 1
        while UIManager._task_queue[1] and UIManager._task_queue[1].time <= K.now do
            local task = table.remove(UIManager._task_queue, 1)
            local t0 = K.timer and K.timer()
            task.action(unpack(task.args, 1, task.args.n))
            if t0 then K.task_ms = K.task_ms + (K.timer() - t0) end
        end
    end
    K.now = stop
end

--- AutoSuspend's standby rule (plugins/autosuspend.koplugin/main.lua:634-648): standby lasts
-- until one second after the next scheduled task, forever when none is scheduled.
function K.standby_seconds()
    local next_task = UIManager:getNextTaskTime()
    return next_task and math.floor(next_task) + 1 or math.huge
end

function K.broadcast(name, ...)
    for _, instance in ipairs(K.instances) do
        local handler = instance["on" .. name]
        if handler then handler(instance, ...) end
    end
end

local function widget(kind)
    return {
        new = function(_, o)
            o = o or {}
            o.kind = kind
            o.onShowKeyboard = function() end
            o.getInputText = function(self) return self.input end
            return o
        end,
    }
end

local WidgetContainer = {}
function WidgetContainer:extend(o)
    o = o or {}
    o.__index = o
    setmetatable(o, { __index = self })
    o.new = function(class, obj)
        obj = setmetatable(obj or {}, class)
        if obj.init then obj:init() end
        return obj
    end
    return o
end

-- LuaSettings' reading side, as G_reader_settings offers it (frontend/luasettings.lua).
local G = {}
function G:readSetting(k, default)
    if K.settings[k] == nil and default ~= nil then K.settings[k] = default end
    return K.settings[k]
end
function G:saveSetting(k, v) K.settings[k] = v end
function G:delSetting(k) K.settings[k] = nil end
function G:isTrue(k) return K.settings[k] == true end
function G:nilOrFalse(k) return not K.settings[k] end
function G:makeTrue(k) K.settings[k] = true end
function G:makeFalse(k) K.settings[k] = false end
_G.G_reader_settings = G

local FileManager = { selected_files = nil }
function FileManager:deleteFile(file, is_file)
    if is_file then return os.remove(file) and true end
    return os.execute("rm -rf '" .. file:gsub("'", "'\\''") .. "'") == 0
end
function FileManager:deleteSelectedFiles()
    for f in pairs(self.selected_files or {}) do os.remove(f) end
    self.selected_files = nil
end
K.FileManager = FileManager

-- NetworkMgr's Wi-Fi policy, frontend/ui/network/manager.lua at fc88887, over a stub radio.
local NetworkMgr = { pending_connection = false, _before_action_tripped = nil }
function NetworkMgr:isWifiOn() return K.radio end
function NetworkMgr:isConnected() return K.connected end
-- turnOnWifi backends run the callback once they attempted a connection (manager.lua:166-173);
-- connectivityCheck broadcasts NetworkConnected and then runs the callback (:95-118, 0.25 s ticks).
function NetworkMgr:turnOnWifi(complete_callback)
    K.turn_on_calls = K.turn_on_calls + 1
    K.radio = true
    if complete_callback then complete_callback() end
end
function NetworkMgr:turnOffWifi(complete_callback)
    K.turn_off_calls = K.turn_off_calls + 1
    K.radio, K.connected = false, false
    if complete_callback then complete_callback() end
end
function NetworkMgr:connectivityCheck(_iter, callback)
    self.pending_connection = false
    if K.radio then
        K.connected = true
        UIManager:broadcastEvent({ name = "NetworkConnected" })
        if callback then callback() end
    end
end
function NetworkMgr:scheduleConnectivityCheck(callback)
    UIManager:scheduleIn(0.25, self.connectivityCheck, self, 1, callback)
end
function NetworkMgr:requestToTurnOnWifi(wifi_cb) -- manager.lua:66-77
    if self.pending_connection then return 16 end -- EBUSY
    self.pending_connection = true
    return self:turnOnWifi(wifi_cb)
end
function NetworkMgr:turnOnWifiAndWaitForConnection(callback) -- manager.lua:517-573
    if self:isWifiOn() and self:isConnected() then
        if callback then callback() end
        return
    end
    self:requestToTurnOnWifi(function() self:scheduleConnectivityCheck(callback) end)
end
function NetworkMgr:doNothingAndWaitForConnection(callback) -- manager.lua:576-590
    if self:isWifiOn() and self:isConnected() then
        if callback then callback() end
        return
    end
    self:scheduleConnectivityCheck(callback)
end
function NetworkMgr:promptWifiOn(complete_callback) -- manager.lua:460-477: no cancel_callback
    if self.pending_connection then return end
    UIManager:show(widget("ConfirmBox"):new {
        text = "Do you want to turn on Wi-Fi?", ok_text = "Turn on", koreader_prompt = true,
        ok_callback = function() self:turnOnWifiAndWaitForConnection(complete_callback) end,
    })
end
function NetworkMgr:promptWifiOff(complete_callback)
    UIManager:show(widget("ConfirmBox"):new {
        text = "Do you want to turn off Wi-Fi?", ok_text = "Turn off", koreader_prompt = true,
        ok_callback = function() self:turnOffWifi(complete_callback) end,
    })
end
function NetworkMgr:setBeforeActionFlag() self._before_action_tripped = true end
function NetworkMgr:beforeWifiAction(callback) -- manager.lua:605-617
    self:setBeforeActionFlag()
    local action = G_reader_settings:readSetting("wifi_enable_action")
    if action == "turn_on" then
        return self:turnOnWifiAndWaitForConnection(callback)
    elseif action == "ignore" then
        return self:doNothingAndWaitForConnection(callback)
    end
    return self:promptWifiOn(callback)
end
function NetworkMgr:afterWifiAction(callback) -- manager.lua:621-639
    if not self._before_action_tripped then return end
    self._before_action_tripped = nil
    local action = G_reader_settings:readSetting("wifi_disable_action")
    if action == "leave_on" then
        if callback then callback() end
    elseif action == "turn_off" then
        self:turnOffWifi(callback)
    else
        self:promptWifiOff(callback)
    end
end
function NetworkMgr:runWhenConnected(callback) -- manager.lua:713-719
    if self:isConnected() then
        callback()
    else
        self:beforeWifiAction(callback)
    end
end
K.NetworkMgr = NetworkMgr

local modules = {
    ["ui/widget/confirmbox"] = widget("ConfirmBox"),
    ["ui/widget/infomessage"] = widget("InfoMessage"),
    ["ui/widget/inputdialog"] = widget("InputDialog"),
    ["ui/widget/multiinputdialog"] = widget("MultiInputDialog"),
    ["ui/widget/textviewer"] = widget("TextViewer"),
    ["ui/widget/container/widgetcontainer"] = WidgetContainer,
    ["ui/uimanager"] = UIManager,
    ["ui/network/manager"] = NetworkMgr,
    ["datastorage"] = {
        getSettingsDir = function() return K.settings_dir end,
        getDataDir = function() return K.settings_dir end,
    },
    ["device"] = {
        isKindle = function() return false end,
        isKobo = function() return false end,
        isPocketBook = function() return false end,
    },
    ["dispatcher"] = { registerAction = function(_, name, def) K.actions[name] = def end },
    ["json"] = json,
    ["libs/libkoreader-lfs"] = lfs,
    ["logger"] = {
        info = function() end, dbg = function() end,
        warn = function(...) K.last_warning = table.concat({ ... }, " ", 1, select("#", ...)) end,
        err = function() end,
    },
    ["util"] = {},  -- no partialMD5: the plugin's own routine is used
    ["gettext"] = setmetatable({}, { __call = function(_, s) return s end }),
    -- koreader-base ffi/util.lua:785-794: a function or table argument makes gsub raise.
    ["ffi/util"] = {
        template = function(str, ...)
            local params = pack(...)
            if params.n == 0 then return str end
            return (string.gsub(str, "%%([1-9][0-9]?)", function(i) return params[tonumber(i)] end))
        end,
    },
    ["apps/filemanager/filemanager"] = FileManager,
    ["docsettings"] = { hasSidecarFile = function() return false end },
    ["document/documentregistry"] = {
        hasProvider = function(_, path) return path:match("%.epub$") or path:match("%.pdf$") end,
    },
}
for name, m in pairs(modules) do
    package.preload[name] = function() return m end
end

os.time = function() return math.floor(K.clock + K.now) end

-- The event order the plugin sees. Device:_beforeSuspend / _afterResume broadcast Suspend and
-- Resume (frontend/device/generic/device.lua:1094-1120). ReaderUI:onClose sends CloseDocument
-- while the document is still open (frontend/apps/reader/readerui.lua:864-882);
-- ReaderUI:reloadDocument sends PreserveCurrentSession first (:950-952), and the new ReaderUI
-- gets a new plugin instance, then ReaderReady (:517).
function K.suspend() K.broadcast("Suspend") end
function K.resume() K.broadcast("Resume") end
function K.close_reader(instance)
    K.broadcast("CloseDocument")
    for i = #K.instances, 1, -1 do
        if K.instances[i] == instance then table.remove(K.instances, i) end
    end
end
function K.open_reader(Plugin, ui)
    local instance = Plugin:new { ui = ui }
    K.instances[#K.instances + 1] = instance
    instance:onReaderReady()
    return instance
end
function K.reload_reader(Plugin, instance, ui)
    K.broadcast("PreserveCurrentSession")
    K.close_reader(instance)
    return K.open_reader(Plugin, ui)
end

--- Widgets of one kind shown since index `from`.
function K.shown_of(kind, from)
    local out = {}
    for i = from or 1, #K.shown do
        if K.shown[i].kind == kind then out[#out + 1] = K.shown[i] end
    end
    return out
end

return K
