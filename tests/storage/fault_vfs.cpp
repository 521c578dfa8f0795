#include "tests/storage/fault_vfs.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace booklore::storage::test {
namespace {

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs wrapper_vfs{};
int syncs_to_fail = 0;
int main_opens = 0;

/// Our file header; the real VFS's file object follows it in the same allocation.
struct wrapped_file {
    sqlite3_file base;
    sqlite3_file* real;
};

sqlite3_file* real_of(sqlite3_file* f) {
    return reinterpret_cast<wrapped_file*>(f)->real;
}

int w_close(sqlite3_file* f) {
    return real_of(f)->pMethods->xClose(real_of(f));
}
int w_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int w_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int w_truncate(sqlite3_file* f, sqlite3_int64 size) {
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int w_sync(sqlite3_file* f, int flags) {
    if (syncs_to_fail > 0) {
        --syncs_to_fail;
        return SQLITE_IOERR_FSYNC;
    }
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int w_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int w_lock(sqlite3_file* f, int lock) {
    return real_of(f)->pMethods->xLock(real_of(f), lock);
}
int w_unlock(sqlite3_file* f, int lock) {
    return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}
int w_check_reserved(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int w_file_control(sqlite3_file* f, int op, void* arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int w_sector_size(sqlite3_file* f) {
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}
int w_device_characteristics(sqlite3_file* f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int w_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int w_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void w_shm_barrier(sqlite3_file* f) {
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}
int w_shm_unmap(sqlite3_file* f, int del) {
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}
int w_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int w_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods wrapped_methods = {
    3,
    w_close,
    w_read,
    w_write,
    w_truncate,
    w_sync,
    w_file_size,
    w_lock,
    w_unlock,
    w_check_reserved,
    w_file_control,
    w_sector_size,
    w_device_characteristics,
    w_shm_map,
    w_shm_lock,
    w_shm_barrier,
    w_shm_unmap,
    w_fetch,
    w_unfetch,
};

int w_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* w = reinterpret_cast<wrapped_file*>(f);
    w->real = reinterpret_cast<sqlite3_file*>(w + 1);
    int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
    // SQLite calls xClose only when pMethods is set, so mirror the real file's state.
    w->base.pMethods = w->real->pMethods ? &wrapped_methods : nullptr;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB))
        ++main_opens;
    return rc;
}

}  // namespace

fault_vfs::fault_vfs() {
    real_vfs = sqlite3_vfs_find(nullptr);
    if (!real_vfs)
        throw std::runtime_error("no default VFS");
    wrapper_vfs = *real_vfs;
    wrapper_vfs.zName = "booklore-fault";
    wrapper_vfs.szOsFile = static_cast<int>(sizeof(wrapped_file)) + real_vfs->szOsFile;
    wrapper_vfs.xOpen = w_open;
    wrapper_vfs.pNext = nullptr;
    syncs_to_fail = 0;
    main_opens = 0;
    sqlite3_vfs_register(&wrapper_vfs, 1);
}

fault_vfs::~fault_vfs() {
    sqlite3_vfs_unregister(&wrapper_vfs);
    sqlite3_vfs_register(real_vfs, 1);
}

void fault_vfs::fail_syncs(int count) {
    syncs_to_fail = count;
}

int fault_vfs::main_db_opens() const {
    return main_opens;
}

}  // namespace booklore::storage::test
