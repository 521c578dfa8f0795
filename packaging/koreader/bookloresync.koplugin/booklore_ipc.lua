--[[--
Talks to booklore-syncd over its Unix stream socket (one JSON object per line, both ways).

KOReader's LuaSocket is built without Unix sockets, so this uses LuaJIT FFI directly. Every call
is bounded: the socket is non-blocking and each wait is a poll() with the time left until a
deadline (200 ms by default), so a slow or hung daemon costs the UI thread at most that long. A
daemon that is not running costs one failed connect() (ENOENT or ECONNREFUSED), microseconds.

The JSON encoder and decoder are injected: KOReader's `json` module in the plugin, a small one in
the tests that run under plain luajit.

All C symbols are declared under private names (asm redirects), so this module never collides
with KOReader's own ffi/posix_h declarations, whichever is loaded first.
]]

local bit = require("bit")
local ffi = require("ffi")
local C = ffi.C

ffi.cdef [[
struct booklore_sockaddr_un { unsigned short sun_family; char sun_path[108]; };
struct booklore_pollfd { int fd; short events; short revents; };
struct booklore_timeval { long tv_sec; long tv_usec; };
int booklore_socket(int domain, int type, int protocol) asm("socket");
int booklore_connect(int fd, const void *addr, unsigned int len) asm("connect");
long booklore_send(int fd, const void *buf, unsigned long len, int flags) asm("send");
long booklore_recv(int fd, void *buf, unsigned long len, int flags) asm("recv");
int booklore_poll(struct booklore_pollfd *fds, unsigned long nfds, int timeout) asm("poll");
int booklore_fcntl(int fd, int cmd, ...) asm("fcntl");
int booklore_close(int fd) asm("close");
char *booklore_strerror(int errnum) asm("strerror");
int booklore_gettimeofday(struct booklore_timeval *tv, void *tz) asm("gettimeofday");
int booklore_open(const char *path, int flags, ...) asm("open");
int booklore_fsync(int fd) asm("fsync");
]]

-- Linux values; identical on x86, x86_64, ARM and AArch64.
local AF_UNIX = 1
local SOCK_STREAM = 1
local SOCK_NONBLOCK = 0x800
local SOCK_CLOEXEC = 0x80000
local MSG_DONTWAIT = 0x40
local MSG_NOSIGNAL = 0x4000
local F_SETFD, F_GETFL, F_SETFL = 2, 3, 4
local FD_CLOEXEC = 1
local O_NONBLOCK = 0x800
local POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x4, 0x8, 0x10, 0x20
local EINTR, EAGAIN, EINPROGRESS, EINVAL = 4, 11, 115, 22
local ENOENT, ECONNREFUSED, ENOTDIR, EACCES = 2, 111, 20, 13

local MAX_LINE = 65536
local CHUNK = 4096

local M = {
    DEFAULT_TIMEOUT_MS = 200,
}

-- Milliseconds from a clock that is good enough for deadlines of a few hundred ms.
-- gettimeofday is in every libc (clock_gettime lives in librt on the old glibc of some readers).
local tv = ffi.new("struct booklore_timeval")
local function now_ms()
    C.booklore_gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
M.now_ms = now_ms

local function errmsg(errno)
    return ffi.string(C.booklore_strerror(errno))
end

local function close_fd(fd)
    if fd and fd >= 0 then
        C.booklore_close(fd)
    end
end

--- Waits until `fd` is ready for `events` or the deadline passes. Returns revents, or 0 on timeout.
local function wait_fd(fd, events, deadline)
    local pfd = ffi.new("struct booklore_pollfd[1]")
    while true do
        local left = math.floor(deadline - now_ms())
        if left < 0 then
            return 0
        end
        pfd[0].fd = fd
        pfd[0].events = events
        pfd[0].revents = 0
        local n = C.booklore_poll(pfd, 1, left)
        if n > 0 then
            return pfd[0].revents
        elseif n == 0 then
            return 0
        elseif ffi.errno() ~= EINTR then
            return POLLERR
        end
    end
end

--- Opens a non-blocking, close-on-exec stream socket connected to `path`.
-- Returns fd, or nil, code, message with code "unavailable" (no daemon) or "io".
local function connect(path, deadline)
    if #path >= 108 then
        return nil, "io", "socket path too long: " .. path
    end
    local fd = C.booklore_socket(AF_UNIX, SOCK_STREAM + SOCK_NONBLOCK + SOCK_CLOEXEC, 0)
    if fd < 0 and ffi.errno() == EINVAL then
        -- Kernels before 2.6.27 know no type flags: set them the old way.
        fd = C.booklore_socket(AF_UNIX, SOCK_STREAM, 0)
        if fd >= 0 then
            C.booklore_fcntl(fd, F_SETFD, ffi.cast("int", FD_CLOEXEC))
            local flags = C.booklore_fcntl(fd, F_GETFL)
            C.booklore_fcntl(fd, F_SETFL, ffi.cast("int", bit.bor(flags, O_NONBLOCK)))
        end
    end
    if fd < 0 then
        local e = ffi.errno()
        return nil, "io", "socket: " .. errmsg(e)
    end
    local addr = ffi.new("struct booklore_sockaddr_un")
    addr.sun_family = AF_UNIX
    ffi.copy(addr.sun_path, path)
    local rc = C.booklore_connect(fd, addr, ffi.sizeof(addr))
    if rc == 0 then
        return fd
    end
    local e = ffi.errno()
    if e == EAGAIN or e == EINPROGRESS or e == EINTR then
        -- The listen backlog is full: wait a little for room, within the deadline.
        local revents = wait_fd(fd, POLLOUT, deadline)
        if bit.band(revents, POLLOUT) ~= 0 and bit.band(revents, POLLERR + POLLHUP) == 0 then
            return fd
        end
        close_fd(fd)
        return nil, "timeout", "connect: daemon busy"
    end
    close_fd(fd)
    if e == ENOENT or e == ECONNREFUSED or e == ENOTDIR then
        return nil, "unavailable", "booklore-syncd is not running (" .. errmsg(e) .. ")"
    elseif e == EACCES then
        return nil, "unavailable", "no permission to use " .. path
    end
    return nil, "io", "connect: " .. errmsg(e)
end

--- Writes all of `data`, polling while the socket buffer is full. Returns true or nil, code, msg.
local function send_all(fd, data, deadline)
    local buf = ffi.cast("const char *", data)
    local len, sent = #data, 0
    while sent < len do
        local n = C.booklore_send(fd, buf + sent, len - sent, MSG_DONTWAIT + MSG_NOSIGNAL)
        if n >= 0 then
            sent = sent + tonumber(n)
        else
            local e = ffi.errno()
            if e == EAGAIN then
                if bit.band(wait_fd(fd, POLLOUT, deadline), POLLOUT) == 0 then
                    return nil, "timeout", "send: timed out"
                end
            elseif e ~= EINTR then
                return nil, "io", "send: " .. errmsg(e)
            end
        end
    end
    return true
end

-- One receive buffer for the module: replies are read on the UI thread, one at a time.
local recv_buf = ffi.new("char[?]", CHUNK)

--- Reads what is available without waiting. Returns data ("" if none), or nil at EOF / error.
local function recv_now(fd)
    local n = C.booklore_recv(fd, recv_buf, CHUNK, MSG_DONTWAIT)
    if n > 0 then
        return ffi.string(recv_buf, n)
    elseif n == 0 then
        return nil, "closed"
    end
    local e = ffi.errno()
    if e == EAGAIN or e == EINTR then
        return ""
    end
    return nil, errmsg(e)
end

--- Reads one line (without its newline) before the deadline. Returns line, or nil, code, msg.
local function read_line(fd, deadline)
    local parts, size = {}, 0
    while true do
        local data, err = recv_now(fd)
        if data == nil then
            return nil, "io", "the daemon closed the connection (" .. tostring(err) .. ")"
        end
        if #data > 0 then
            local nl = data:find("\n", 1, true)
            if nl then
                parts[#parts + 1] = data:sub(1, nl - 1)
                return table.concat(parts)
            end
            parts[#parts + 1] = data
            size = size + #data
            if size > MAX_LINE then
                return nil, "io", "reply longer than " .. MAX_LINE .. " bytes"
            end
        else
            local revents = wait_fd(fd, POLLIN, deadline)
            if revents == 0 then
                return nil, "timeout", "no reply within the time limit"
            elseif bit.band(revents, POLLIN + POLLHUP + POLLERR + POLLNVAL) == 0 then
                return nil, "io", "poll failed"
            end
        end
    end
end

local Client = {}
Client.__index = Client

--- Creates a client. opts: socket_path (string, or a function returning one), encode, decode
-- (JSON functions), timeout_ms (default 200).
function M.new(opts)
    assert(opts and opts.socket_path, "socket_path is required")
    assert(opts.encode and opts.decode, "a JSON encode and decode are required")
    return setmetatable({
        socket_path = opts.socket_path,
        encode = opts.encode,
        decode = opts.decode,
        timeout_ms = opts.timeout_ms or M.DEFAULT_TIMEOUT_MS,
        next_id = 0,
    }, Client)
end

function Client:path()
    local p = self.socket_path
    if type(p) == "function" then
        p = p()
    end
    return p
end

function Client:encode_line(msg)
    local ok, line = pcall(self.encode, msg)
    if not ok then
        return nil, "io", "cannot encode request: " .. tostring(line)
    end
    if line:find("\n", 1, true) then
        return nil, "io", "encoded request contains a newline"
    end
    return line .. "\n"
end

--- Sends one request and waits (at most timeout_ms) for its reply on a fresh connection.
-- Returns the decoded reply table (which may say ok=false), or nil, code, message with code
-- "unavailable" (daemon not running), "timeout", "io" or "bad_reply".
function Client:request(msg, timeout_ms)
    local deadline = now_ms() + (timeout_ms or self.timeout_ms)
    if msg.id == nil then
        self.next_id = self.next_id + 1
        msg.id = self.next_id
    end
    local line, code, message = self:encode_line(msg)
    if not line then
        return nil, code, message
    end
    local fd
    fd, code, message = connect(self:path(), deadline)
    if not fd then
        return nil, code, message
    end
    local ok
    ok, code, message = send_all(fd, line, deadline)
    if not ok then
        close_fd(fd)
        return nil, code, message
    end
    local reply_line
    reply_line, code, message = read_line(fd, deadline)
    close_fd(fd)
    if not reply_line then
        return nil, code, message
    end
    local decoded_ok, reply = pcall(self.decode, reply_line)
    if not decoded_ok or type(reply) ~= "table" then
        return nil, "bad_reply", "the daemon sent something that is not JSON: " .. reply_line:sub(1, 200)
    end
    return reply
end

local Subscription = {}
Subscription.__index = Subscription

--- Opens a subscription connection: it receives event lines ({"event":...}) for as long as it
-- stays open. Never blocks for more than timeout_ms. Returns the subscription, or nil, code, msg.
function Client:subscribe(timeout_ms)
    local deadline = now_ms() + (timeout_ms or self.timeout_ms)
    local fd, code, message = connect(self:path(), deadline)
    if not fd then
        return nil, code, message
    end
    local sub = setmetatable({ client = self, fd = fd, buffer = "", alive = true }, Subscription)
    local ok
    ok, code, message = sub:send({ type = "subscribe", id = "subscribe" }, deadline)
    if not ok then
        sub:close()
        return nil, code, message
    end
    return sub
end

--- Sends a request on the subscription connection; its reply arrives through poll().
function Subscription:send(msg, deadline)
    if not self.alive then
        return nil, "io", "subscription closed"
    end
    local line, code, message = self.client:encode_line(msg)
    if not line then
        return nil, code, message
    end
    local ok
    ok, code, message = send_all(self.fd, line, deadline or now_ms() + self.client.timeout_ms)
    if not ok and code == "io" then
        self:close()
    end
    return ok, code, message
end

--- Reads whatever has arrived, without waiting. Returns a list of decoded lines (events and
-- replies alike; callers tell them apart by `event` versus `ok`). After the daemon goes away,
-- `alive` is false and poll() returns what was left.
function Subscription:poll()
    local messages = {}
    while self.alive do
        local data = recv_now(self.fd)
        if data == nil then
            self:close()
            break
        elseif data == "" then
            break
        end
        self.buffer = self.buffer .. data
        if #self.buffer > MAX_LINE and not self.buffer:find("\n", 1, true) then
            self:close()
            break
        end
    end
    while true do
        local nl = self.buffer:find("\n", 1, true)
        if not nl then
            break
        end
        local line = self.buffer:sub(1, nl - 1)
        self.buffer = self.buffer:sub(nl + 1)
        local ok, decoded = pcall(self.client.decode, line)
        if ok and type(decoded) == "table" then
            messages[#messages + 1] = decoded
        end
    end
    return messages
end

function Subscription:close()
    if self.fd then
        close_fd(self.fd)
        self.fd = nil
    end
    self.alive = false
end

M.Client = Client
M.Subscription = Subscription
-- For booklore_lane.lua, which keeps a connection open across UI ticks instead of waiting.
M.connect = connect
M.recv_now = recv_now
M.close_fd = close_fd
M.MAX_LINE = MAX_LINE

--- fsync(2) of the file at `path` (for booklore_outbox.lua: io has no fsync).
function M.fsync(path)
    local fd = C.booklore_open(path, 0x80000) -- O_RDONLY | O_CLOEXEC
    if fd >= 0 then
        C.booklore_fsync(fd)
        C.booklore_close(fd)
    end
end

--- Writes as much of `data` as the socket takes now. Returns the bytes written, or nil, msg.
function M.send_some(fd, data)
    local n = C.booklore_send(fd, data, #data, MSG_DONTWAIT + MSG_NOSIGNAL)
    if n >= 0 then
        return tonumber(n)
    end
    local e = ffi.errno()
    if e == EAGAIN or e == EINTR then
        return 0
    end
    return nil, "send: " .. errmsg(e)
end
return M
