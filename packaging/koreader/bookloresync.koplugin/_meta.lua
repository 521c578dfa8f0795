local _ = require("gettext")
return {
    name = "bookloresync",
    fullname = _("BookLore Sync"),
    description = _([[Records reading sessions and book deletions and hands them to the booklore-syncd background service, which uploads them to your BookLore server whenever the network allows.]]),
}
