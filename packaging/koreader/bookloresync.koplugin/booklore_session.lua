--[[--
A reading session, measured the way KOReader measures reading.

- Time is counted per page visit with the statistics plugin's rule
  (plugins/statistics.koplugin/main.lua:2604-2620 at koreader fc88887): a visit shorter than
  min_sec counts 0, one longer than max_sec counts max_sec, so a page left open while the reader
  walked away counts as much as the history import will count for it.
- Progress is KOReader's own percentage (getLastPercent, as kosync sends it,
  plugins/kosync.koplugin/main.lua:650-656), the position its own (getLastProgress: an xpointer
  for reflowable documents, the page for fixed layout, main.lua:658-663).
- The ISBN comes from the document's metadata (doc_props.identifiers), checked before it is sent,
  because the daemon refuses a whole session over a bad one.
]]

local Hash = require("booklore_hash")

local M = {
    -- statistics.koplugin/main.lua:29-30 at fc88887
    DEFAULT_MIN_SEC = 5,
    DEFAULT_MAX_SEC = 120,
}

local BOOK_TYPES = {
    pdf = "PDF", epub = "EPUB", kepub = "EPUB", fb2 = "FB2", fbz = "FB2", mobi = "MOBI",
    azw3 = "AZW3", azw = "AZW3", cbz = "CBX", cbr = "CBX", cb7 = "CBX", cbt = "CBX",
}

function M.book_type(path)
    local ext = path and path:match("%.([^./]+)$")
    if ext and ext:lower() == "zip" then
        ext = path:match("%.([^./]+)%.[Zz][Ii][Pp]$")
    end
    return ext and BOOK_TYPES[ext:lower()]
end

--- KOReader's own partial MD5 when it has one; ours otherwise (with KOReader's C md5 if present).
function M.fingerprint(path)
    local ok_util, util = pcall(require, "util")
    if ok_util and util.partialMD5 then
        local ok, hash = pcall(util.partialMD5, path)
        if ok and type(hash) == "string" and #hash == 32 then
            return hash:lower()
        end
    end
    local ok, sha2 = pcall(require, "ffi/sha2")
    local hash = Hash.partial_md5(path, ok and type(sha2) == "table" and sha2.md5 or nil)
    return hash and hash:lower()
end

--- The statistics plugin's min_sec/max_sec when it is enabled, its defaults otherwise.
function M.limits()
    local disabled = G_reader_settings:readSetting("plugins_disabled")
    local s = G_reader_settings:readSetting("statistics")
    if type(s) == "table" and s.is_enabled ~= false and not (type(disabled) == "table" and disabled.statistics) then
        return tonumber(s.min_sec) or M.DEFAULT_MIN_SEC, tonumber(s.max_sec) or M.DEFAULT_MAX_SEC
    end
    return M.DEFAULT_MIN_SEC, M.DEFAULT_MAX_SEC
end

local function counted(seconds, min_sec, max_sec)
    if seconds > max_sec then
        return max_sec
    elseif seconds >= min_sec then
        return seconds
    end
    return 0
end

local function isbn_ok(d)
    local sum = 0
    if #d == 13 and (d:sub(1, 3) == "978" or d:sub(1, 3) == "979") and not d:find("X", 1, true) then
        for i = 1, 13 do
            sum = sum + tonumber(d:sub(i, i)) * (i % 2 == 1 and 1 or 3)
        end
        return sum % 10 == 0
    elseif #d == 10 and d:sub(1, 9):match("^%d+$") then
        for i = 1, 10 do
            local c = d:sub(i, i)
            sum = sum + (c == "X" and 10 or tonumber(c)) * (11 - i)
        end
        return sum % 11 == 0
    end
    return false
end

--- The first valid ISBN-10 or ISBN-13 in a metadata identifiers string, or nil.
function M.isbn(identifiers)
    if type(identifiers) ~= "string" then
        return nil
    end
    for run in identifiers:upper():gmatch("[%dX][%dX%- ]+[%dX]") do
        local digits = run:gsub("[%- ]", "")
        if isbn_ok(digits) then
            return digits
        end
    end
end

--- KOReader's progress (percent, 2 decimals) and position for the open document.
function M.position(ui)
    local ok, percent, location = pcall(function()
        local paged = ui.document.info and ui.document.info.has_pages
        local reader = paged and ui.paging or ui.rolling
        local fraction = reader:getLastPercent()
        local where = reader:getLastProgress()
        if type(fraction) ~= "number" then
            return nil, where
        end
        -- Math.roundPercent (frontend/optmath.lua:18-20), then as a percentage.
        return math.max(0, math.min(100, math.floor(fraction * 10000) / 100)), where
    end)
    if ok then
        location = location ~= nil and tostring(location) or nil
        -- The daemon refuses a location over 500 characters (and the session with it).
        return percent, location and #location <= 500 and location or nil
    end
end

local function current_page(ui)
    local ok, page = pcall(function() return ui:getCurrentPage() end)
    return ok and page or nil
end

local Session = {}
Session.__index = Session

--- Starts a session on the document open in `ui`. Returns nil when the book has no fingerprint.
function M.start(ui, now)
    local doc = ui.document
    local path = doc and doc.file
    if not path then
        return nil
    end
    local hash = ui.doc_settings and ui.doc_settings:readSetting("partial_md5_checksum")
    hash = type(hash) == "string" and #hash == 32 and hash:lower() or M.fingerprint(path)
    if not hash then
        return nil
    end
    local props = ui.doc_props or {}
    local title = props.display_title or props.title
    if type(title) ~= "string" or title == "" then
        title = path:match("([^/]+)$"):gsub("%.[^.]+$", "")
    end
    local progress, location = M.position(ui)
    return setmetatable({
        book_hash = hash, file_path = path, title = title, book_type = M.book_type(path),
        isbn = M.isbn(props.identifiers),
        start_time = now, start_progress = progress, start_location = location,
        seconds = 0, page = current_page(ui), page_since = now,
    }, Session)
end

--- A page turn (statistics' onPageUpdate): the page left is counted, capped.
function Session:turn(page, now)
    if page == self.page then
        return
    end
    local min_sec, max_sec = M.limits()
    self.seconds = self.seconds + counted(now - self.page_since, min_sec, max_sec)
    self.page, self.page_since = page, now
end

--- Ends the session: the session_end message for the daemon.
function Session:finish(ui, now)
    local min_sec, max_sec = M.limits()
    local end_time = math.max(now, self.start_time) -- a clock stepped back must not make end < start
    local seconds = self.seconds + counted(math.max(0, now - self.page_since), min_sec, max_sec)
    local progress, location = M.position(ui)
    return {
        type = "session_end",
        book_hash = self.book_hash,
        file_path = self.file_path,
        title = self.title,
        book_type = self.book_type,
        isbn = self.isbn,
        start_time = self.start_time,
        end_time = end_time,
        duration_seconds = math.min(seconds, end_time - self.start_time),
        start_progress = self.start_progress,
        end_progress = progress,
        start_location = self.start_location,
        end_location = location,
        event_id = self.book_hash .. "-" .. self.start_time,
    }
end

return M
