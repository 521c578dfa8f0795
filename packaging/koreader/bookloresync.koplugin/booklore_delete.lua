--[[--
Book deletions in KOReader's file manager become book_deleted events.

FileManager's delete functions are wrapped once: the fingerprint is taken before the file goes,
and the events are kept (outbox) and sent after, only for files really gone. A folder's books,
or a selection, go out as pipelined lines in one write; their replies are read together later.
]]

local lfs = require("libs/libkoreader-lfs")
local Hash = require("booklore_hash")
local Session = require("booklore_session")

local MAX_BOOKS = 1000 -- a folder deeper or larger than this is a library, not a shelf
local MAX_DEPTH = 8

local D = { patched = false }

local function books_below(path)
    -- No hashing (that could take long): the daemon knows the fingerprints of books it saw opened.
    local books = {}
    local function walk(dir, depth)
        if depth > MAX_DEPTH or #books >= MAX_BOOKS then
            return
        end
        for name in lfs.dir(dir) do
            if name ~= "." and name ~= ".." then
                local p = dir .. "/" .. name
                local mode = lfs.attributes(p, "mode")
                if mode == "directory" and not name:match("%.sdr$") then
                    walk(p, depth + 1)
                elseif mode == "file" and Session.book_type(p) and #books < MAX_BOOKS then
                    books[#books + 1] = { path = p }
                end
            end
        end
    end
    pcall(walk, path, 0)
    return books
end

local function before_delete(path)
    local mode = lfs.attributes(path, "mode")
    if mode == "directory" then
        return books_below(path)
    elseif mode ~= "file" then
        return {}
    end
    local ok, DocumentRegistry = pcall(require, "document/documentregistry")
    if not Session.book_type(path) and not (ok and DocumentRegistry:hasProvider(path)) then
        return {}
    end
    local hash
    local ds_ok, DocSettings = pcall(require, "docsettings")
    if ds_ok and DocSettings.hasSidecarFile and DocSettings:hasSidecarFile(path) then
        local opened, ds = pcall(DocSettings.open, DocSettings, path)
        hash = opened and ds and ds:readSetting("partial_md5_checksum")
    end
    return { { path = path, hash = hash or Session.fingerprint(path) } }
end

local function after_delete(books)
    local events = {}
    for _i, book in ipairs(books) do
        if not lfs.attributes(book.path, "mode") then
            -- Keyed by path and content: two copies of one book deleted together are two events.
            local key = Hash.md5_hex(book.path .. "\0" .. (book.hash or ""))
            events[#events + 1] = {
                type = "book_deleted",
                file_path = book.path,
                book_hash = book.hash,
                event_id = "del-" .. key .. "-" .. os.time(),
            }
        end
    end
    if #events > 0 then
        D.link.keep(events)
    end
end

local function pack(...)
    return { n = select("#", ...), ... }
end

--- Wraps FileManager.deleteFile and deleteSelectedFiles (once per KOReader run).
function D.patch(link)
    D.link = link
    if D.patched then
        return
    end
    local ok, FileManager = pcall(require, "apps/filemanager/filemanager")
    if not ok or type(FileManager) ~= "table" then
        return
    end
    D.patched = true
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

return D
