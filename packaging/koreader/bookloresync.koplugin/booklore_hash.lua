--[[--
Book fingerprint: KOReader's partial MD5, in plain LuaJIT.

KOReader itself offers util.partialMD5 and stores the value as the document setting
"partial_md5_checksum"; the plugin prefers those. This copy exists so the plugin still has a
fingerprint when neither is available (a file deleted from the file manager that was never
opened), and so the algorithm can be tested outside KOReader.

The fingerprint: 1024 bytes sampled at offsets 0, 1 Ki, 4 Ki, 16 Ki, ... 1 Gi (1024 << 2i for
i = -1..10, where i = -1 means offset 0), stopping at the first offset at or past the end of the
file, all fed into ONE MD5; lowercase hex.
]]

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rol, tobit, bswap, tohex = bit.rol, bit.tobit, bit.bswap, bit.tohex
local byte, char, rep = string.byte, string.char, string.rep
local floor = math.floor

local M = {}

-- Per-round constants: floor(abs(sin(i + 1)) * 2^32), computed once instead of written out.
local K = {}
for i = 0, 63 do
    K[i] = tobit(floor(math.abs(math.sin(i + 1)) * 4294967296))
end

-- Left-rotation amounts, four per round.
local S = {
    [0] = 7, 12, 17, 22,
    5, 9, 14, 20,
    4, 11, 16, 23,
    6, 10, 15, 21,
}

local function word_at(s, i)
    local a, b, c, d = byte(s, i, i + 3)
    return bor(a, b * 256, c * 65536, d * 16777216)
end

local function compress(state, block, offset)
    local x = {}
    for j = 0, 15 do
        x[j] = tobit(word_at(block, offset + j * 4))
    end
    local a, b, c, d = state[1], state[2], state[3], state[4]
    for i = 0, 63 do
        local f, g
        local round = floor(i / 16)
        if round == 0 then
            f = bor(band(b, c), band(bnot(b), d))
            g = i
        elseif round == 1 then
            f = bor(band(d, b), band(bnot(d), c))
            g = (5 * i + 1) % 16
        elseif round == 2 then
            f = bxor(b, c, d)
            g = (3 * i + 5) % 16
        else
            f = bxor(c, bor(b, bnot(d)))
            g = (7 * i) % 16
        end
        local sum = tobit(a + f + K[i] + x[g])
        a, d, c = d, c, b
        b = tobit(b + rol(sum, S[round * 4 + i % 4]))
    end
    state[1] = tobit(state[1] + a)
    state[2] = tobit(state[2] + b)
    state[3] = tobit(state[3] + c)
    state[4] = tobit(state[4] + d)
end

--- Lowercase hex MD5 of a Lua string.
function M.md5_hex(message)
    local len = #message
    -- Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit little-endian number.
    local pad_len = (55 - len) % 64
    local bits = len * 8
    local lo = bits % 4294967296
    local hi = floor(bits / 4294967296)
    local function le32(v)
        return char(v % 256, floor(v / 256) % 256, floor(v / 65536) % 256, floor(v / 16777216) % 256)
    end
    local padded = message .. "\128" .. rep("\0", pad_len) .. le32(lo) .. le32(hi)
    local state = { tobit(0x67452301), tobit(0xefcdab89), tobit(0x98badcfe), tobit(0x10325476) }
    for offset = 1, #padded, 64 do
        compress(state, padded, offset)
    end
    -- The digest is the state words in little-endian byte order.
    return tohex(bswap(state[1])) .. tohex(bswap(state[2])) .. tohex(bswap(state[3])) .. tohex(bswap(state[4]))
end

--- The sample offsets of the partial MD5, in order (12 of them).
function M.sample_offsets()
    local offsets = {}
    for i = -1, 10 do
        -- i = -1 is offset 0: LuaJIT's lshift(1024, -2) masks the count to 30 and wraps to 0.
        offsets[#offsets + 1] = i < 0 and 0 or 1024 * 4 ^ i
    end
    return offsets
end

--- KOReader's partial MD5 of the file at `path`, or nil and an error message.
-- `md5` may be given (e.g. KOReader's ffi/sha2 md5); it defaults to the pure-Lua one above.
function M.partial_md5(path, md5)
    local file, err = io.open(path, "rb")
    if not file then
        return nil, err
    end
    local size = file:seek("end")
    if not size then
        file:close()
        return nil, "cannot seek in " .. path
    end
    local samples = {}
    for _, offset in ipairs(M.sample_offsets()) do
        if offset >= size then
            break
        end
        file:seek("set", offset)
        local sample = file:read(1024)
        if not sample then
            break
        end
        samples[#samples + 1] = sample
    end
    file:close()
    return (md5 or M.md5_hex)(table.concat(samples))
end

return M
