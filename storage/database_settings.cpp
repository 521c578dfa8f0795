// The settings table: what `set_settings` stored, kept private to the daemon's user.
#include "config/utc_time.hpp"
#include "storage/database.hpp"
#include "storage/rows.hpp"

#include <sys/stat.h>

#include <cerrno>

namespace booklore::storage {

using boost::system::error_code;

result<void> database::store_settings(std::span<const setting_change> changes) {
    return guarded("store_settings", [&](sqlite_connection& c) -> result<void> {
        auto upsert = c.prepare(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = "
            "excluded.updated_at");
        if (!upsert)
            return upsert.error();
        auto remove = c.prepare("DELETE FROM settings WHERE key = ?1");
        if (!remove)
            return remove.error();
        const std::string now = utc_now_iso();
        if (error_code ec = rows::write(c, [&]() -> error_code {
                for (const auto& change : changes) {
                    auto& s = change.value ? *upsert : *remove;
                    s.reset();
                    s.bind(1, change.key);
                    if (change.value) {
                        s.bind(2, *change.value);
                        s.bind(3, now);
                    }
                    if (error_code step = s.run())
                        return step;
                }
                return {};
            }))
            return ec;
        return {};
    });
}

result<void> database::restrict_to_owner() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::string file = path_.string() + suffix;
        if (::chmod(file.c_str(), S_IRUSR | S_IWUSR) != 0 && errno != ENOENT)
            return error_code(errno, boost::system::system_category());
    }
    return {};
}

}  // namespace booklore::storage
