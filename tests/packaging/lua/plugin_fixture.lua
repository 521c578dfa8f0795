-- What the plugin tests share: the stubbed KOReader, the plugin loaded as PluginLoader loads it
-- (again, for a "restarted" KOReader), readers with documents, a record of every line the
-- plugin sends, and a loop that lets real time pass on the stub's clock until a condition holds.

local T = require("testlib")
local K = require("koreader_stubs")
local json = require("json_min")
local ipc = require("booklore_ipc")
local ffi = require("ffi")

local F = { K = K, sent = {} }

-- booklore_ipc stays: its FFI declarations belong to the process, as in one KOReader run.
local PLUGIN_MODULES = {
    "booklore_delete", "booklore_hash", "booklore_lane", "booklore_link",
    "booklore_menu", "booklore_outbox", "booklore_session", "booklore_settings", "booklore_wifi",
}

-- Every request the plugin writes on its connection, in order.
local function record_lanes()
    local Lane = require("booklore_lane")
    local open = Lane.open
    Lane.open = function(client)
        local lane, code, message = open(client)
        if lane then
            local send = lane.send
            lane.send = function(self, msgs)
                for _, m in ipairs(msgs) do F.sent[#F.sent + 1] = m end
                F.writes = (F.writes or 0) + 1
                return send(self, msgs)
            end
        end
        return lane, code, message
    end
end

--- Loads main.lua with fresh module state, as a new KOReader run does. Returns the plugin class.
function F.load_plugin()
    for _, name in ipairs(PLUGIN_MODULES) do package.loaded[name] = nil end
    record_lanes()
    F.Plugin = dofile(T.plugin_dir .. "main.lua")
    F.private = F.Plugin._private
    return F.Plugin
end

--- Requests of one type the plugin sent since index `from`.
function F.sent_of(kind, from)
    local out = {}
    for i = from or 1, #F.sent do
        if F.sent[i].type == kind then out[#out + 1] = F.sent[i] end
    end
    return out
end

--- A reader showing `path`: fixed layout (paged) or reflowable, `pages` pages, at page 1.
function F.make_ui(path, opts)
    opts = opts or {}
    local pages = opts.pages or 200
    local ui = {
        page = opts.page or 1,
        menu = { registerToMainMenu = function() end },
        document = { file = path, info = { has_pages = opts.paged or false, number_of_pages = pages } },
        doc_settings = { readSetting = function() return nil end },
        doc_props = { display_title = opts.title, identifiers = opts.identifiers },
    }
    ui.getCurrentPage = function(self) return self.page end
    local reader = {
        getLastPercent = function() return ui.page / pages end,
        getLastProgress = function()
            if opts.paged then return ui.page end
            return "/body/DocFragment[" .. ui.page .. "]/body/p[1]/text().0"
        end,
    }
    if opts.paged then ui.paging = reader else ui.rolling = reader end
    return ui
end

--- Turns to `page` as ReaderPaging/ReaderRolling do: the page changes, PageUpdate is sent.
function F.turn(ui, page)
    ui.page = page
    K.broadcast("PageUpdate", page)
end

function F.make_book(dir, name, size)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "wb"))
    local bytes = {}
    for i = 0, size - 1 do bytes[#bytes + 1] = string.char((i * 13 + 5 + #name) % 256) end
    f:write(table.concat(bytes))
    f:close()
    return path
end

--- Waits (real time, the plugin's tasks not run) until pred() returns a value.
function F.wait_until(pred, what, seconds)
    local deadline = ipc.now_ms() + (seconds or 10) * 1000
    while true do
        local v = pred()
        if v then return v end
        if ipc.now_ms() > deadline then error("timed out waiting for " .. what, 2) end
        ffi.C.booklore_poll(nil, 0, 2)
    end
end

--- Lets real time pass on the stub's clock (so the plugin's tasks run as they would) until
-- pred() returns a value, or fails after `seconds` of real time.
function F.pump_until(pred, what, seconds)
    local deadline = ipc.now_ms() + (seconds or 10) * 1000
    local last = ipc.now_ms()
    while true do
        local v = pred()
        if v then return v end
        local t = ipc.now_ms()
        if t > deadline then error("timed out waiting for " .. what, 2) end
        K.advance((t - last) / 1000)
        last = t
        ffi.C.booklore_poll(nil, 0, 2) -- 2 ms: the daemon's turn
    end
end

--- Runs the plugin's tasks until none is left (nothing pending any more).
function F.settle(what, seconds)
    return F.pump_until(function() return K.pending_tasks() == 0 end, what or "the plugin's tasks to stop", seconds or 30)
end

--- A synchronous client for checking the daemon's side.
function F.probe(socket_path)
    local probe = ipc.new { socket_path = socket_path, encode = json.encode, decode = json.decode, timeout_ms = 5000 }
    return function(msg)
        local reply, code, message = probe:request(msg)
        T.ok(reply and reply.ok, msg.type .. ": " .. tostring(code) .. " " .. tostring(message) .. " " .. (reply and json.encode(reply) or ""))
        return reply
    end
end

return F
