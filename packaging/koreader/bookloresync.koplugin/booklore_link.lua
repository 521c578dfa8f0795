--[[--
Everything the plugin says to booklore-syncd goes through here, and nothing here waits.

- Events that must not be lost go to the outbox first (booklore_outbox.lua), then onto the lane
  (booklore_lane.lua); they leave the outbox when the daemon's ok for their event_id arrives.
  Waiting events are sent again, oldest first, on the next chance: the next event, a resume,
  network up, KOReader's start, and, while any wait, a retry whose delay doubles up to 5 min.
- Replies and daemon events are read by one task scheduled with UIManager. The task runs only
  while there is a reason: a reply is due, a sync we started is running (or about to), the
  Wi-Fi dialog is open, or the outbox holds something. Otherwise nothing is scheduled and the
  connection is closed, so AutoSuspend's standby (which wakes for the next scheduled task,
  autosuspend.koplugin/main.lua:634-648 at koreader fc88887) is never cut short by us.
]]

local UIManager = require("ui/uimanager")
local logger = require("logger")
local Ipc = require("booklore_ipc")
local Lane = require("booklore_lane")

local REPLY_FIRST_S, REPLY_MAX_S = 0.02, 1 -- reply polling: quick at first, then slower
local REPLY_TIMEOUT_S = 15                 -- a daemon that has not answered by then is hung
local WATCH_S = 5                          -- how long a trigger waits for its sync_started
local SYNC_POLL_S = 1
local SYNC_MAX_S = 600                     -- a sync that never says it finished is let go
local RETRY_FIRST_S, RETRY_MAX_S = 2, 300

-- Error codes after which sending the same event again can succeed.
local RETRYABLE = { unavailable = true, storage_full = true, storage_error = true }

local L = {
    lane = nil,
    inflight = {},   -- request id -> { event_id = ..., on_reply = fn, since = t }
    sending = {},    -- event_id -> true while on the lane
    next_id = 0,
    reply_delay = REPLY_FIRST_S,
    retry_delay = RETRY_FIRST_S,
    retry_at = nil,
    watch_from = 0, watch_until = 0, sync_until = 0,
    holds = {},
    suspended = false,
    scheduled = false,
}

--- opts: client (booklore_ipc), outbox, on_event(msg), on_unreachable(code, message, quiet).
function L.setup(opts)
    L.client, L.outbox = opts.client, opts.outbox
    L.on_event, L.on_unreachable = opts.on_event, opts.on_unreachable
end

local function now()
    return os.time()
end

local function drop_lane(why)
    if L.lane then
        L.lane:close()
        L.lane = nil
    end
    for id, req in pairs(L.inflight) do
        L.inflight[id] = nil
        if req.event_id then
            L.sending[req.event_id] = nil
        end
        if req.on_reply then
            pcall(req.on_reply, nil, "io", why)
        end
    end
end

local function open_lane(quiet)
    if L.lane and L.lane.alive then
        return L.lane
    end
    drop_lane("connection closed")
    local lane, code, message = Lane.open(L.client)
    if not lane then
        logger.warn("BookLoreSync: daemon not reachable:", code, message)
        if L.on_unreachable then
            L.on_unreachable(code, message, quiet)
        end
        return nil, code, message
    end
    L.lane = lane
    return lane
end

local function track(msg, req)
    L.next_id = L.next_id + 1
    msg.id = "p" .. L.next_id
    req.since = now()
    L.inflight[msg.id] = req
    L.reply_delay = REPLY_FIRST_S
end

--- Sends every waiting outbox event not yet on the lane, oldest first, with `extra` (requests
-- that may be lost) after them, in one write. Returns true if the daemon could be reached;
-- otherwise every on_reply of `extra` has been told (nil, code, message).
local function send(extra, quiet)
    local events = {}
    for _i, event in ipairs(L.outbox:entries()) do
        if not L.sending[event.event_id] then
            events[#events + 1] = event
        end
    end
    if #events == 0 and not (extra and #extra > 0) then
        return true
    end
    local lane, code, message = open_lane(quiet)
    if not lane then
        for _i, item in ipairs(extra or {}) do
            if item.on_reply then
                pcall(item.on_reply, nil, code, message)
            end
        end
        return false
    end
    local msgs = {}
    for _i, event in ipairs(events) do
        local copy = {}
        for k, v in pairs(event) do
            copy[k] = v
        end
        track(copy, { event_id = event.event_id })
        L.sending[event.event_id] = true
        msgs[#msgs + 1] = copy
    end
    for _i, item in ipairs(extra or {}) do
        track(item.msg, { on_reply = item.on_reply })
        msgs[#msgs + 1] = item.msg
    end
    if lane:send(msgs) then
        return true
    end
    drop_lane(lane.error or "not reachable")
    return false
end

local function watching()
    local t = now()
    return t < L.sync_until or t < L.watch_until
end

local function handle(msg)
    if msg.event then
        if msg.event == "sync_started" then
            L.sync_until = now() + SYNC_MAX_S
        elseif msg.event == "sync_finished" then
            L.sync_until, L.watch_until = 0, 0
        elseif msg.event == "wifi_needed" and not watching() then
            return -- not asked for by anything we did just now: never from an idle task
        end
        if L.on_event then
            L.on_event(msg)
        end
        return
    end
    local req = msg.id ~= nil and L.inflight[msg.id]
    if not req then
        if msg.ok == false and msg.id == nil then
            -- Refused as a connection ("too many connections"): nothing on it was read.
            drop_lane(msg.error and msg.error.message or "refused")
            L.retry_delay = math.min(RETRY_MAX_S, L.retry_delay * 2)
        end
        return
    end
    L.inflight[msg.id] = nil
    if req.event_id then
        L.sending[req.event_id] = nil
        local code = msg.ok == false and type(msg.error) == "table" and msg.error.code
        if msg.ok == true or not RETRYABLE[code] then
            if msg.ok ~= true then
                logger.warn("BookLoreSync: the daemon refused", req.event_id, code)
            end
            L.outbox:ack(req.event_id)
            L.retry_delay = RETRY_FIRST_S
        else
            L.retry_delay = math.min(RETRY_MAX_S, L.retry_delay * 2) -- busy: back off as when away
        end
    end
    if req.on_reply then
        local ok, err = pcall(req.on_reply, msg)
        if not ok then
            logger.warn("BookLoreSync: reply handler failed:", err)
        end
    end
end

local tick

--- Schedules the next tick for the most pressing reason, or nothing (and closes the
-- connection) when there is none.
function L.schedule()
    if L.scheduled then
        UIManager:unschedule(tick)
        L.scheduled = false
    end
    if L.suspended then
        return
    end
    local t, delay = now(), nil
    local function want(d)
        delay = delay and math.min(delay, d) or d
    end
    if next(L.inflight) or (L.lane and L.lane:backlog() > 0) then
        want(L.reply_delay)
    end
    if t < L.sync_until then
        want(SYNC_POLL_S)
    elseif t < L.watch_until then
        want(math.max(SYNC_POLL_S, L.watch_from - t))
    end
    if next(L.holds) then
        want(SYNC_POLL_S)
    end
    local waiting = #L.outbox:entries() > 0
    if waiting then
        L.retry_at = L.retry_at or t + L.retry_delay
        want(math.max(0, L.retry_at - t))
    else
        L.retry_at = nil
    end
    if not delay then
        drop_lane("idle")
        return
    end
    L.scheduled = true
    UIManager:scheduleIn(delay, tick)
end

function tick()
    L.scheduled = false
    local lane = L.lane
    if lane then
        for _i, msg in ipairs(lane:pump()) do
            handle(msg)
        end
        if not lane.alive then
            drop_lane(lane.error or "closed")
        end
    end
    local t = now()
    for _id, req in pairs(L.inflight) do
        if t - req.since > REPLY_TIMEOUT_S then
            drop_lane("no reply")
            break
        end
    end
    if next(L.inflight) then
        L.reply_delay = math.min(REPLY_MAX_S, L.reply_delay * 2)
    end
    if L.retry_at and t >= L.retry_at then
        L.retry_at = nil
        if not send(nil, true) then
            L.retry_delay = math.min(RETRY_MAX_S, L.retry_delay * 2)
        end
        -- Events waiting because the daemon is away are made durable now, off the page turn.
        L.outbox:sync()
    end
    L.schedule()
end

--- Keeps events (a list) in the outbox, then sends them with whatever else waits.
function L.keep(events, opts)
    opts = opts or {}
    L.outbox:add(events)
    L.send(nil, opts)
end

--- Sends a request that may be lost (book_opened, suspend, ...) after the waiting events.
-- opts.on_reply(reply | nil, code, message); opts.trigger: it may start a sync, so listen for
-- one); opts.quiet: no notice. The retry back-off is left alone: only the daemon's ok resets it.
function L.send(msg, opts)
    opts = opts or {}
    if opts.trigger then
        L.watch(0)
    end
    local ok = send(msg and { { msg = msg, on_reply = opts.on_reply } } or nil, opts.quiet)
    if ok then
        L.retry_at = nil -- just sent: the next retry counts from now
    end
    L.schedule()
    return ok
end

--- Listen for a sync that starts within `from` + WATCH_S seconds.
function L.watch(from)
    L.watch_from = now() + from
    L.watch_until = math.max(L.watch_until, L.watch_from + WATCH_S)
end

--- While `name` is held (the Wi-Fi dialog), the daemon's lines are read.
function L.hold(name, on)
    L.holds[name] = on or nil
    L.schedule()
end

function L.suspend()
    L.suspended = true
    L.watch_until, L.sync_until = 0, 0
    L.schedule()
end

function L.resume()
    L.suspended = false
    L.schedule()
end

--- True if the daemon accepts a connection now (a connect and a close, no request).
function L.reachable()
    if L.lane and L.lane.alive then
        return true
    end
    local fd = Ipc.connect(L.client:path(), 0)
    if fd then
        Ipc.close_fd(fd)
    end
    return fd ~= nil
end

--- stopPlugin: no task, no connection.
function L.stop()
    L.suspended = true
    L.schedule()
    drop_lane("stopped")
end

return L
