-- The plugin's partial-MD5 routine against the server contract's test vectors (§2.5) and the
-- plugin spec's vectors. Usage: luajit test_hash.lua WORKDIR [REFERENCE_FILE]
-- With REFERENCE_FILE (lines "path hash" from an independent implementation), every file listed
-- there is hashed as well and must match.

package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local H = require("booklore_hash")

local workdir = arg[1] or T.env("BOOKLORE_TEST_DIR")
local reference = arg[2]

local function write_file(name, size, byte_at)
    local path = workdir .. "/" .. name
    local chunk = {}
    local f = assert(io.open(path, "wb"))
    for i = 0, size - 1 do
        chunk[#chunk + 1] = string.char(byte_at(i))
        if #chunk == 8192 then
            f:write(table.concat(chunk))
            chunk = {}
        end
    end
    f:write(table.concat(chunk))
    f:close()
    return path
end

T.case("md5 of known strings", function()
    T.eq(H.md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e", "md5('')")
    T.eq(H.md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72", "md5('abc')")
    T.eq(H.md5_hex("The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6", "md5(fox)")
    T.eq(H.md5_hex(string.rep("a", 1000)), "cabe45dcc9ae5b66ba86600cca6b8ba8", "md5(a*1000)")
end)

T.case("sample offsets are 0, 1Ki, 4Ki ... 1Gi", function()
    local offsets = H.sample_offsets()
    T.eq(#offsets, 12, "number of samples")
    T.eq(offsets[1], 0, "first offset")
    T.eq(offsets[2], 1024, "second offset")
    T.eq(offsets[3], 4096, "third offset")
    T.eq(offsets[12], 1073741824, "last offset")
end)

-- server-contract.md §2.5: byte i is (7*i+3) mod 251.
local contract_vectors = {
    { 0, "d41d8cd98f00b204e9800998ecf8427e" },
    { 1, "8666683506aacd900bbd5a74ac4edf68" },
    { 1024, "84d769de0d4a5450f9ca6ca2eab3234a" },
    { 1025, "bf8516a41091eed47cb5c49723ae5be9" },
    { 5000, "47c161c92e3628990d2674a8d716b10d" },
    { 70000, "0091e4609f1a669e327e85e82daf8c55" },
    { 2000000, "a8e5d826fec788763e08061cf84e2f97" },
}
for _, v in ipairs(contract_vectors) do
    local size, expected = v[1], v[2]
    T.case("server contract vector, " .. size .. " bytes", function()
        local path = write_file("contract-" .. size .. ".bin", size, function(i) return (7 * i + 3) % 251 end)
        T.eq(H.partial_md5(path), expected, "partial md5 of " .. size .. " bytes")
    end)
end

T.case("plugin spec vectors", function()
    local a = write_file("spec-256x8.bin", 2048, function(i) return i % 256 end)
    T.eq(H.partial_md5(a), "1576a94d6cb334dd126cb1c27f19e0f2", "bytes(range(256))*8")
    local b = write_file("spec-300000.bin", 300000, function(i) return i % 251 end)
    T.eq(H.partial_md5(b), "c43e7af7c64be64ff8765e78ee771294", "bytes(i%251 for i in range(300000))")
end)

T.case("missing file gives nil and a message", function()
    local hash, err = H.partial_md5(workdir .. "/does-not-exist.epub")
    T.eq(hash, nil, "hash")
    T.ok(type(err) == "string" and #err > 0, "error message")
end)

T.case("an injected md5 is used", function()
    local seen
    local path = write_file("injected.bin", 3000, function(i) return i % 7 end)
    local hash = H.partial_md5(path, function(data)
        seen = #data
        return "x"
    end)
    T.eq(hash, "x", "result of the injected md5")
    T.eq(seen, 2048, "bytes sampled (offsets 0 and 1024 only)")
end)

if reference then
    T.case("matches the reference implementation on every listed file", function()
        local n = 0
        for line in io.lines(reference) do
            local path, expected = line:match("^(.-) (%x+)$")
            if path then
                n = n + 1
                T.eq(H.partial_md5(path), expected, "partial md5 of " .. path)
            end
        end
        T.ok(n > 0, "the reference file lists files")
    end)
end

T.finish()
