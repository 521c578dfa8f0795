-- A small JSON encoder/decoder for the tests that run the plugin's IPC module under plain luajit
-- (inside KOReader the plugin uses KOReader's own `json` module). JSON null decodes to M.null,
-- a function, as in KOReader's luajson (lua/json/util.lua:74-77 and decode/others.lua:24 at
-- harningt/luajson 6ecaf9b, the commit koreader-base ab4cb58 thirdparty/luajson builds).

local M = {}

local function null()
    return null
end
M.null = null

local escapes = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
end

local function is_array(t)
    local n = 0
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
            return false
        end
        n = n + 1
    end
    return n == #t
end

local function encode(v)
    local tv = type(v)
    if v == nil or v == M.null then
        return "null"
    elseif tv == "boolean" then
        return tostring(v)
    elseif tv == "number" then
        assert(v == v and v ~= math.huge and v ~= -math.huge, "cannot encode NaN or infinity")
        if v % 1 == 0 and math.abs(v) < 2 ^ 53 then
            return string.format("%d", v)
        end
        return string.format("%.17g", v)
    elseif tv == "string" then
        return encode_string(v)
    elseif tv == "table" then
        local out = {}
        if next(v) ~= nil and is_array(v) then
            for i = 1, #v do
                out[i] = encode(v[i])
            end
            return "[" .. table.concat(out, ",") .. "]"
        end
        local keys = {}
        for k in pairs(v) do
            keys[#keys + 1] = tostring(k)
        end
        table.sort(keys)
        for _, k in ipairs(keys) do
            out[#out + 1] = encode_string(k) .. ":" .. encode(v[k])
        end
        return "{" .. table.concat(out, ",") .. "}"
    end
    error("cannot encode a " .. tv)
end
M.encode = encode

local function decode(s)
    local pos = 1
    local function fail(what)
        error(string.format("JSON: %s at offset %d", what, pos))
    end
    local function skip()
        pos = s:find("[^ \t\r\n]", pos) or #s + 1
    end
    local value
    local function str()
        pos = pos + 1
        local out = {}
        while true do
            local c = s:sub(pos, pos)
            if c == "" then
                fail("unterminated string")
            elseif c == '"' then
                pos = pos + 1
                return table.concat(out)
            elseif c == "\\" then
                local e = s:sub(pos + 1, pos + 1)
                local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
                if map[e] then
                    out[#out + 1] = map[e]
                    pos = pos + 2
                elseif e == "u" then
                    local code = tonumber(s:sub(pos + 2, pos + 5), 16) or fail("bad \\u escape")
                    pos = pos + 6
                    if code >= 0xD800 and code <= 0xDBFF and s:sub(pos, pos + 1) == "\\u" then
                        local low = tonumber(s:sub(pos + 2, pos + 5), 16)
                        code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
                        pos = pos + 6
                    end
                    if code < 0x80 then
                        out[#out + 1] = string.char(code)
                    elseif code < 0x800 then
                        out[#out + 1] = string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
                    elseif code < 0x10000 then
                        out[#out + 1] = string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
                    else
                        out[#out + 1] = string.char(0xF0 + math.floor(code / 262144), 0x80 + math.floor(code / 4096) % 64,
                            0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
                    end
                else
                    fail("bad escape")
                end
            else
                local j = s:find('["\\]', pos) or #s + 1
                out[#out + 1] = s:sub(pos, j - 1)
                pos = j
            end
        end
    end
    function value()
        skip()
        local c = s:sub(pos, pos)
        if c == "{" then
            pos = pos + 1
            local t = {}
            skip()
            if s:sub(pos, pos) == "}" then
                pos = pos + 1
                return t
            end
            while true do
                skip()
                if s:sub(pos, pos) ~= '"' then fail("expected a key") end
                local k = str()
                skip()
                if s:sub(pos, pos) ~= ":" then fail("expected ':'") end
                pos = pos + 1
                t[k] = value()
                skip()
                local d = s:sub(pos, pos)
                pos = pos + 1
                if d == "}" then return t end
                if d ~= "," then fail("expected ',' or '}'") end
            end
        elseif c == "[" then
            pos = pos + 1
            local t = {}
            skip()
            if s:sub(pos, pos) == "]" then
                pos = pos + 1
                return t
            end
            while true do
                t[#t + 1] = value()
                skip()
                local d = s:sub(pos, pos)
                pos = pos + 1
                if d == "]" then return t end
                if d ~= "," then fail("expected ',' or ']'") end
            end
        elseif c == '"' then
            return str()
        elseif s:sub(pos, pos + 3) == "true" then
            pos = pos + 4
            return true
        elseif s:sub(pos, pos + 4) == "false" then
            pos = pos + 5
            return false
        elseif s:sub(pos, pos + 3) == "null" then
            pos = pos + 4
            return M.null
        end
        local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
        if not num or num == "" then fail("unexpected character") end
        pos = pos + #num
        return tonumber(num) or fail("bad number")
    end
    local v = value()
    skip()
    if pos <= #s then fail("trailing characters") end
    return v
end
M.decode = decode

return M
