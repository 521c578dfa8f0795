local _ = require("gettext")
-- No `name`: PluginLoader takes it from the folder and warns about one here (pluginloader.lua:256-260).
return {
    fullname = _("BookLore Sync"),
    description = _([[Records reading sessions and book deletions and hands them to the booklore-syncd background service, which uploads them to your BookLore server whenever the network allows.]]),
}
