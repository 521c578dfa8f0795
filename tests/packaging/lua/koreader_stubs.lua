-- Just enough of KOReader for the plugin's main.lua to load and run under plain luajit.
-- Every widget shown, action registered and task scheduled is recorded for the tests to inspect.

local json = require("json_min")

local K = {
    shown = {},          -- widgets passed to UIManager:show, in order
    tasks = {},          -- { fn = f, delay = d } from UIManager:scheduleIn
    actions = {},        -- Dispatcher actions by name
    wifi_enabled = 0,    -- NetworkMgr:enableWifi calls
    connected = false,   -- what NetworkMgr:isConnected answers
    standby_prevented = 0,
    clock = 1767225600,  -- what os.time() answers (the tests move it)
    settings = {},
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

local UIManager = {}
function UIManager:show(widget) K.shown[#K.shown + 1] = widget end
function UIManager:close() end
function UIManager:scheduleIn(delay, fn) K.tasks[#K.tasks + 1] = { delay = delay, fn = fn } end
function UIManager:unschedule(fn)
    for i = #K.tasks, 1, -1 do
        if K.tasks[i].fn == fn then table.remove(K.tasks, i) end
    end
end
function UIManager:preventStandby() K.standby_prevented = K.standby_prevented + 1 end
function UIManager:allowStandby() K.standby_prevented = K.standby_prevented - 1 end

--- Runs the tasks that are due now (all of them: time does not pass in the stub).
function K.run_tasks()
    local due = K.tasks
    K.tasks = {}
    for _, t in ipairs(due) do t.fn() end
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

local G = {}
function G:readSetting(k) return K.settings[k] end
function G:saveSetting(k, v) K.settings[k] = v end
_G.G_reader_settings = G

local FileManager = { selected_files = nil }
function FileManager:deleteFile(file, is_file)
    if is_file then return os.remove(file) and true end
end
function FileManager:deleteSelectedFiles()
    for f in pairs(self.selected_files or {}) do os.remove(f) end
    self.selected_files = nil
end
K.FileManager = FileManager

local modules = {
    ["ui/widget/confirmbox"] = widget("ConfirmBox"),
    ["ui/widget/infomessage"] = widget("InfoMessage"),
    ["ui/widget/inputdialog"] = widget("InputDialog"),
    ["ui/widget/textviewer"] = widget("TextViewer"),
    ["ui/widget/container/widgetcontainer"] = WidgetContainer,
    ["ui/uimanager"] = UIManager,
    ["datastorage"] = { getSettingsDir = function() return "/tmp" end },
    ["device"] = {
        isKindle = function() return false end,
        isKobo = function() return false end,
        isPocketBook = function() return false end,
    },
    ["dispatcher"] = { registerAction = function(_, name, def) K.actions[name] = def end },
    ["ui/network/manager"] = {
        isConnected = function() return K.connected end,
        enableWifi = function() K.wifi_enabled = K.wifi_enabled + 1 end,
    },
    ["json"] = json,
    ["libs/libkoreader-lfs"] = lfs,
    ["logger"] = {
        info = function() end, dbg = function() end,
        warn = function(...) K.last_warning = table.concat({ ... }, " ", 1, select("#", ...)) end,
        err = function() end,
    },
    ["util"] = {},  -- no partialMD5: the plugin's own routine is used
    ["gettext"] = setmetatable({}, { __call = function(_, s) return s end }),
    ["ffi/util"] = {
        template = function(fmt, ...)
            local args = { ... }
            return (fmt:gsub("%%(%d)", function(i) return tostring(args[tonumber(i)]) end))
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

os.time = function() return K.clock end

--- Widgets of one kind shown since index `from`.
function K.shown_of(kind, from)
    local out = {}
    for i = from or 1, #K.shown do
        if K.shown[i].kind == kind then out[#out + 1] = K.shown[i] end
    end
    return out
end

return K
