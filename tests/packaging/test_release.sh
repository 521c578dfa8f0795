#!/bin/bash
# packaging/release.sh from a fresh clone: the three files exist, KoboRoot.tgz holds exactly the
# documented files with their modes, the plugin zip loads in the stub harness, the KUAL package
# carries the plugin, and the packaged configs start the daemon with no hand editing.
# Host binaries from BOOKLORE_BIN_DIR stand in for the armhf ones (--allow-non-arm).
. "$(dirname "$0")/lib.sh"
setup

CLONE=$WORK/clone
if [ -d "$REPO/.git" ]; then
    git clone -q "$REPO" "$CLONE"
else
    cp -R "$REPO" "$CLONE"
fi
PLUGIN_SRC=$CLONE/packaging/koreader/bookloresync.koplugin
DIST=$CLONE/dist

echo "--- release.sh"
check_rc "release.sh builds the release files" 0 "$CLONE/packaging/release.sh" --bin-dir "$BIN_DIR" --allow-non-arm
for f in bookloresync.koplugin.zip KoboRoot.tgz booklore-sync-kual.zip; do
    check "dist/$f exists" test -s "$DIST/$f"
    [ -s "$DIST/$f" ] && echo "figure: $f $(stat -c %s "$DIST/$f") bytes"
done
check "SHA256SUMS matches the files" bash -c 'cd "$1" && sha256sum -c --quiet SHA256SUMS' _ "$DIST"
check "dist/ is ignored by git (the clone stays clean)" test -z "$(git -C "$CLONE" status --porcelain 2>/dev/null)"
check_rc "release.sh refuses host binaries without --allow-non-arm" 1 \
    "$CLONE/packaging/release.sh" --bin-dir "$BIN_DIR" --output-dir "$WORK/refused"

# "MODE PATH" lines of the plugin folder as it must appear below prefix $1.
plugin_listing() {
    echo "drwxr-xr-x $1/"
    (cd "$PLUGIN_SRC" && find . -mindepth 1 -type d | sed "s|^\./|drwxr-xr-x $1/|; s|\$|/|")
    (cd "$PLUGIN_SRC" && find . -type f | sed "s|^\./|-rw-r--r-- $1/|")
}

echo "--- KoboRoot.tgz: every entry, its mode and owner"
{
    cat <<'EOF'
drwxr-xr-x etc/
drwxr-xr-x etc/udev/
drwxr-xr-x etc/udev/rules.d/
-rw-r--r-- etc/udev/rules.d/97-booklore-syncd.rules
drwxr-xr-x mnt/
drwxr-xr-x mnt/onboard/
drwxr-xr-x mnt/onboard/.adds/
drwxr-xr-x mnt/onboard/.adds/koreader/
drwxr-xr-x mnt/onboard/.adds/koreader/plugins/
drwxr-xr-x usr/
drwxr-xr-x usr/local/
drwxr-xr-x usr/local/booklore-sync/
drwxr-xr-x usr/local/booklore-sync/bin/
-rwxr-xr-x usr/local/booklore-sync/bin/booklore-syncctl
-rwxr-xr-x usr/local/booklore-sync/bin/booklore-syncd
-rw-r--r-- usr/local/booklore-sync/booklore-service.sh
-rwxr-xr-x usr/local/booklore-sync/booklore-syncd.init
-rw-r--r-- usr/local/booklore-sync/ca-bundle.crt
-rw-r--r-- usr/local/booklore-sync/config.default.json
-rw-r--r-- usr/local/booklore-sync/config.example.json
EOF
    plugin_listing mnt/onboard/.adds/koreader/plugins/bookloresync.koplugin
} | sort >"$WORK/kobo.expected"
tar -tvzf "$DIST/KoboRoot.tgz" >"$WORK/kobo.tv"
awk '{ print $1, $6 }' "$WORK/kobo.tv" | sort >"$WORK/kobo.actual"
if diff -u "$WORK/kobo.expected" "$WORK/kobo.actual" >"$WORK/kobo.diff"; then
    pass "KoboRoot.tgz holds exactly the documented entries with their modes ($(wc -l <"$WORK/kobo.actual") entries)"
else
    fail "KoboRoot.tgz holds exactly the documented entries with their modes" "$(cat "$WORK/kobo.diff")"
fi
check "every entry of KoboRoot.tgz is owned by 0/0" test -z "$(awk '$2 != "0/0"' "$WORK/kobo.tv")"
check "KoboRoot.tgz has no config.json (an upgrade keeps the reader's own)" \
    bash -c '! grep -q "booklore-sync/config.json$" "$1"' _ "$WORK/kobo.tv"
KROOT=$WORK/kobo-root
mkdir -p "$KROOT"
tar -xzf "$DIST/KoboRoot.tgz" -C "$KROOT"
check "the Kobo plugin copy is the tree's plugin folder" \
    diff -r "$PLUGIN_SRC" "$KROOT/mnt/onboard/.adds/koreader/plugins/bookloresync.koplugin"
check "the Kobo programs are the given ones" cmp -s "$BIN_DIR/booklore-syncd" "$KROOT/usr/local/booklore-sync/bin/booklore-syncd"

echo "--- the packaged configs"
only_paths() {
    /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); assert sorted(c) == ["database", "socket"], sorted(c)' "$1"
}
KINDLE_DIR=$WORK/kindle-us
mkdir -p "$KINDLE_DIR"
(cd "$KINDLE_DIR" && unzip -q "$DIST/booklore-sync-kual.zip")
for c in "Kobo:$KROOT/usr/local/booklore-sync/config.default.json" "Kindle:$KINDLE_DIR/extensions/booklore-sync/config.default.json"; do
    check "${c%%:*}: config.default.json names only database and socket" only_paths "${c#*:}"
    check_rc "${c%%:*}: config.default.json passes --check-config (no server needed)" 0 \
        "$DAEMON" --config "${c#*:}" --check-config
done

# The Kobo init script with no config.json: it takes the packaged one and the daemon starts
# unconfigured. The packaged paths are moved into the temporary root first.
sed -i -e "s|/usr/local/booklore-sync|$KROOT/usr/local/booklore-sync|" -e "s|/tmp/booklore-syncd.sock|$KROOT/kobo.sock|" \
    "$KROOT/usr/local/booklore-sync/config.default.json"
kobo_init() {
    BOOKLORE_HOME=$KROOT/usr/local/booklore-sync BOOKLORE_PIDFILE=$KROOT/kobo.pid BOOKLORE_LOG=$KROOT/kobo.log \
        BOOKLORE_ONBOARD=$KROOT/mnt/onboard BOOKLORE_ONBOARD_CONFIG=$KROOT/mnt/onboard/.adds/booklore-sync/config.json \
        "$KROOT/usr/local/booklore-sync/booklore-syncd.init" "$@"
}
check_rc "Kobo: start with only the packaged config" 0 kobo_init start
check "Kobo: config.json is the packaged one, mode 600" bash -c \
    'cmp -s "$1/config.default.json" "$1/config.json" && [ "$(stat -c %a "$1/config.json")" = 600 ]' _ "$KROOT/usr/local/booklore-sync"
check "Kobo: the unconfigured daemon answers" "$CTL" --socket "$KROOT/kobo.sock" status
check_rc "Kobo: stop" 0 kobo_init stop

echo "--- the KUAL package"
EXT=$KINDLE_DIR/extensions/booklore-sync
for f in config.xml menu.json config.example.json bin/booklore-sync.sh bin/booklore-syncd upstart/booklore-syncd.conf; do
    check "the KUAL package has extensions/booklore-sync/$f" test -f "$EXT/$f"
done
check "the KUAL package carries the plugin in koreader/plugins/" \
    diff -r "$PLUGIN_SRC" "$KINDLE_DIR/koreader/plugins/bookloresync.koplugin"
check "the KUAL package holds nothing but extensions/ and koreader/" \
    test "$(ls -A "$KINDLE_DIR" | tr '\n' ' ')" = "extensions koreader "
sed -i -e "s|/var/local/booklore-sync|$WORK/kindle-var/booklore-sync|" -e "s|/var/tmp/booklore-syncd.sock|$WORK/kindle.sock|" \
    "$EXT/config.default.json"
kindle_sh() {
    BOOKLORE_HOME=$WORK/kindle-var/booklore-sync BOOKLORE_PIDFILE=$WORK/kindle.pid BOOKLORE_LOG=$WORK/kindle.log \
        BOOKLORE_UPSTART_DIR=$WORK/no-upstart "$EXT/bin/booklore-sync.sh" "$@"
}
check_rc "Kindle: start with only the packaged config" 0 kindle_sh start
check "Kindle: config.json is the packaged one, mode 600" bash -c \
    'cmp -s "$1" "$2/config.json" && [ "$(stat -c %a "$2/config.json")" = 600 ]' _ "$EXT/config.default.json" "$WORK/kindle-var/booklore-sync"
check "Kindle: the unconfigured daemon answers" "$CTL" --socket "$WORK/kindle.sock" status
check_rc "Kindle: stop" 0 kindle_sh stop

echo "--- bookloresync.koplugin.zip in the stub harness"
ZDIR=$WORK/plugins
mkdir -p "$ZDIR"
(cd "$ZDIR" && unzip -q "$DIST/bookloresync.koplugin.zip")
check "the zip holds one folder, bookloresync.koplugin" test "$(ls -A "$ZDIR")" = bookloresync.koplugin
check "the zip's folder is the tree's plugin folder" diff -r "$PLUGIN_SRC" "$ZDIR/bookloresync.koplugin"
# Loads it as KOReader's PluginLoader does (its folder on package.path, _meta.lua, then main.lua),
# with KOReader replaced by tests/packaging/lua/koreader_stubs.lua, and opens Settings.
check_rc "the zipped plugin loads and shows Tools → BookLore Sync → Settings first" 0 \
    luajit - "$ZDIR/bookloresync.koplugin" "$TESTS_DIR/lua" "$WORK/no-daemon.sock" "$WORK" <<'EOF'
local dir, stubs, sock = arg[1], arg[2], arg[3]
package.path = dir .. "/?.lua;" .. stubs .. "/?.lua;" .. package.path
local K = require("koreader_stubs")
K.settings_dir = arg[4] -- the plugin's own files go to the test's folder
if not package.preload["ui/widget/multiinputdialog"] then
    package.preload["ui/widget/multiinputdialog"] = function() return { new = function(_, o) return o end } end
end
K.settings.bookloresync = { socket_path = sock, auto_start = false }
local meta = dofile(dir .. "/_meta.lua")
assert(type(meta) == "table" and meta.fullname, "_meta.lua gives the plugin's name")
local Plugin = dofile(dir .. "/main.lua")
local plugin = Plugin:new { ui = { menu = { registerToMainMenu = function() end } } }
local items = {}
plugin:addToMainMenu(items)
local top = items.bookloresync
assert(top and top.sorting_hint == "tools", "Tools → BookLore Sync")
local first = top.sub_item_table[1]
assert(first.text == "Settings", "first entry is Settings, got " .. tostring(first.text))
local names = {}
for _, item in ipairs(first.sub_item_table_func()) do names[#names + 1] = item.text or item.text_func() end
print(table.concat(names, " | "))
assert(#names == 6, "six entries under Settings")
EOF
finish
