#pragma once

// A test VFS wrapping the default one so tests can make the Nth sync fail like a dying SD card
// (SQLite's own I/O-error tests use the same idea). Installed as the default VFS while alive.

namespace booklore::storage::test {

class fault_vfs {
public:
    fault_vfs();
    ~fault_vfs();
    fault_vfs(const fault_vfs&) = delete;
    fault_vfs& operator=(const fault_vfs&) = delete;

    /// The next `count` xSync calls fail with SQLITE_IOERR_FSYNC.
    void fail_syncs(int count);
    /// How many times a main database file was opened through this VFS.
    int main_db_opens() const;
};

}  // namespace booklore::storage::test
