-- A minimal test runner for luajit: named cases, real assertions, a closing "N passed, N failed".

local M = { passed = 0, failed = 0 }

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
M.dir = here
M.repo = here .. "../../../"
M.plugin_dir = M.repo .. "packaging/koreader/bookloresync.koplugin/"

package.path = here .. "?.lua;" .. M.plugin_dir .. "?.lua;" .. package.path

function M.case(name, fn)
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
        M.passed = M.passed + 1
        io.write("ok   ", name, "\n")
    else
        M.failed = M.failed + 1
        io.write("FAIL ", name, "\n     ", tostring(err):gsub("\n", "\n     "), "\n")
    end
    io.flush()
end

local function show(v)
    if type(v) == "string" then
        return string.format("%q", v)
    end
    return tostring(v)
end

function M.eq(actual, expected, what)
    if actual ~= expected then
        error(string.format("%s: expected %s, got %s", what or "value", show(expected), show(actual)), 2)
    end
end

function M.ok(cond, what)
    if not cond then
        error(what or "assertion failed", 2)
    end
    return cond
end

function M.env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        if default == nil then
            error("environment variable " .. name .. " is required")
        end
        return default
    end
    return v
end

function M.finish()
    io.write(string.format("%d passed, %d failed\n", M.passed, M.failed))
    os.exit(M.failed == 0 and 0 or 1)
end

return M
