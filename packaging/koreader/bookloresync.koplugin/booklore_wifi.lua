--[[--
The daemon's wifi_needed, answered the way KOReader itself goes online.

KOReader's "Action when Wi-Fi is off" (G_reader_settings wifi_enable_action, read by
NetworkMgr:beforeWifiAction, frontend/ui/network/manager.lua:605-617 at koreader fc88887) decides:

| wifi_enable_action | ask = false                          | ask = true (our dialog first)         |
|--------------------|--------------------------------------|----------------------------------------|
| turn_on            | Wi-Fi is turned on                   | Confirm turns it on, Cancel does not   |
| prompt (default)   | KOReader's own "turn on Wi-Fi?" box  | our dialog is that question: Confirm   |
|                    |                                      | turns it on, with no second box        |
| ignore ("leave     | nothing is turned on: the daemon     | the same: nothing to ask about         |
|   off")            | waits for the user's own network-up  |                                        |

Cancel answers wifi_answer {"enable":false}; the sessions stay queued in the daemon. After a sync
that our request brought Wi-Fi up for, NetworkMgr:afterWifiAction applies "Action when done
with Wi-Fi" (manager.lua:621-639).
]]

local ConfirmBox = require("ui/widget/confirmbox")
local NetworkMgr = require("ui/network/manager")
local UIManager = require("ui/uimanager")
local _ = require("gettext")

local W = {
    dialog = nil,
    brought_up = false, -- Wi-Fi came up because we asked NetworkMgr
}

local MESSAGE = _("A sync is ready to run. Enable Wi-Fi to upload pending sessions?")

--- link: booklore_link (for the answer and the hold while the dialog is open).
function W.setup(link)
    W.link = link
end

local function connected()
    return NetworkMgr.isConnected and NetworkMgr:isConnected()
end

-- Called by NetworkMgr once the connection is there (only after a successful connection).
local function on_connected()
    W.brought_up = true
    W.link.send({ type = "network_up" }, { trigger = true, quiet = true })
end

local function turn_on(policy)
    if policy == "prompt" then
        -- The user has just said yes to our question: what KOReader's prompt does on "Turn on"
        -- (manager.lua:460-477), with the before-action flag set as beforeWifiAction sets it,
        -- so that afterWifiAction still runs.
        NetworkMgr:setBeforeActionFlag()
        NetworkMgr:turnOnWifiAndWaitForConnection(on_connected)
    else
        NetworkMgr:beforeWifiAction(on_connected)
    end
end

local function answer(enable)
    W.link.send({ type = "wifi_answer", enable = enable }, { quiet = true })
end

function W.on_needed(event)
    if connected() then
        -- We are online after all (the daemon's view is stale): say so instead of asking.
        W.link.send({ type = "network_up" }, { trigger = true, quiet = true })
        return
    end
    local policy = G_reader_settings:readSetting("wifi_enable_action") or "prompt"
    if policy == "ignore" then
        return -- the user turns Wi-Fi on; the daemon syncs at network-up
    end
    if not event.ask then
        NetworkMgr:runWhenConnected(on_connected)
        return
    end
    if W.dialog then
        return -- already asking
    end
    local function close(enable)
        W.dialog = nil
        W.link.hold("wifi_dialog", false)
        answer(enable)
        if enable then
            turn_on(policy)
        end
    end
    W.dialog = ConfirmBox:new {
        -- Our own words, translated and spelled as KOReader spells Wi-Fi, not the daemon's.
        text = _("Enable Wi-Fi now?") .. "\n\n" .. MESSAGE,
        ok_text = _("Confirm"),
        cancel_text = _("Cancel"),
        dismissable = false,        -- an answer is owed to the daemon: Confirm or Cancel only
        flush_events_on_show = true, -- a page-turn tap already on its way must not answer it
        ok_callback = function() close(true) end,
        cancel_callback = function() close(false) end,
    }
    W.link.hold("wifi_dialog", true)
    UIManager:show(W.dialog)
end

--- A sync finished: if our request brought Wi-Fi up for it, let KOReader's policy take it down.
function W.on_sync_finished()
    if W.brought_up then
        W.brought_up = false
        NetworkMgr:afterWifiAction()
    end
end

return W
