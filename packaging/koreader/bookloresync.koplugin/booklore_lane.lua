--[[--
One connection to booklore-syncd that never makes the UI thread wait.

Requests are written as pipelined lines (as much as the socket takes now, the rest on the next
pump), and replies are read later, from a scheduled task, without waiting: the daemon answers a
session_end only after its fsync, and that time belongs to the daemon, not to the reader's page
turn. The connection subscribes first, so that a sync started by one of our own requests, and
its wifi_needed, are seen on the same connection, in order.
]]

local Ipc = require("booklore_ipc")

local Lane = {}
Lane.__index = Lane

local M = {}

--- Connects (without waiting) and queues the subscribe line. Returns the lane, or nil, code, msg
-- (code "unavailable" when the daemon is not running, "timeout" when its backlog is full).
function M.open(client)
    local fd, code, message = Ipc.connect(client:path(), Ipc.now_ms())
    if not fd then
        return nil, code, message
    end
    local lane = setmetatable({ client = client, fd = fd, out = "", input = "", alive = true }, Lane)
    lane:send({ { type = "subscribe", id = "subscribe" } })
    return lane
end

--- Queues requests (a list of tables) and writes what the socket takes now, all lines in one
-- write where the socket has room. Returns true, or nil, code, msg.
function Lane:send(msgs)
    if not self.alive then
        return nil, "io", self.error or "connection closed"
    end
    local lines = {}
    for i, msg in ipairs(msgs) do
        local line, code, message = self.client:encode_line(msg)
        if not line then
            return nil, code, message
        end
        lines[i] = line
    end
    self.out = self.out .. table.concat(lines)
    self:write()
    if self.alive then
        return true
    end
    return nil, "io", self.error or "connection closed"
end

function Lane:write()
    while self.alive and #self.out > 0 do
        local n, err = Ipc.send_some(self.fd, self.out)
        if not n then
            self.error = err
            self:close()
        elseif n == 0 then
            return
        else
            self.out = self.out:sub(n + 1)
        end
    end
end

--- Output not yet taken by the socket (bytes).
function Lane:backlog()
    return #self.out
end

--- Writes pending output and reads what has arrived. Returns the decoded lines (replies and
-- events alike). After the daemon closed the connection, `alive` is false.
function Lane:pump()
    self:write()
    while self.alive do
        local data, err = Ipc.recv_now(self.fd)
        if data == nil then
            self.error = err
            self:close()
        elseif data == "" then
            break
        else
            self.input = self.input .. data
            if #self.input > Ipc.MAX_LINE and not self.input:find("\n", 1, true) then
                self.error = "line too long"
                self:close()
            end
        end
    end
    local messages = {}
    for line in self.input:gmatch("([^\n]*)\n") do
        local ok, decoded = pcall(self.client.decode, line)
        if ok and type(decoded) == "table" then
            messages[#messages + 1] = decoded
        end
    end
    self.input = self.input:match("[^\n]*$")
    return messages
end

function Lane:close()
    if self.fd then
        Ipc.close_fd(self.fd)
        self.fd = nil
    end
    self.alive = false
end

return M
