// A power cut for SQLite, preloaded into the real daemon (LD_PRELOAD=libbooklore_powercut_vfs.so).
//
// At load time this library registers, as SQLite's default VFS, a shim around the default one
// that keeps every write to a database, WAL or rollback journal in memory until that file is
// synced: reads see the writes (as they would see the page cache), the disk does not. At the
// K-th sync the "power goes": the writes that were never synced are dropped (mode drop) or each
// is kept, dropped or kept only in some of its 512-byte sectors (mode torn: a disk that
// reorders and tears unsynced writes), and the process dies with SIGKILL before that sync runs.
// What is on disk afterwards is exactly what a power cut could leave; the next daemon start
// (without this library) must find every acknowledged event and a sound file.
//
//   BOOKLORE_POWERCUT_AT=K        cut at the K-th sync of a buffered file (unset/0: never)
//   BOOKLORE_POWERCUT_MODE=drop|torn            (default drop)
//   BOOKLORE_POWERCUT_SEED=N                    (torn mode's random choices)
//   BOOKLORE_POWERCUT_REPORT=FILE  one line written at the cut: what was dropped and kept
//
// Simplifications, on purpose: creating, deleting and renaming files counts as durable at once
// (no directory fsync is modelled), and the -shm file is passed through (SQLite rebuilds it after
// a crash because no other process holds it). Test-only code; never shipped.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace {

/// One write or truncate that reached the "page cache" but not the disk.
struct pending_op {
    bool truncate = false;
    sqlite3_int64 offset = 0;  // the new size for a truncate
    std::string data;
};

/// The unsynced changes of one file, shared by every handle open on it.
struct overlay {
    std::vector<pending_op> ops;
};

struct state {
    std::mutex mutex;
    sqlite3_vfs* real = nullptr;
    sqlite3_vfs vfs{};
    std::map<std::string, std::shared_ptr<overlay>> files;
    long cut_at = 0;
    long syncs = 0;
    bool torn = false;
    unsigned seed = 1;
    const char* report = nullptr;
};

state& g() {
    static state s;
    return s;
}

struct shim_file {
    sqlite3_file base;
    sqlite3_file* real;
    std::string* path;  // set for buffered files
    std::shared_ptr<overlay>* data;
};

sqlite3_file* real_of(sqlite3_file* f) {
    return reinterpret_cast<shim_file*>(f)->real;
}
shim_file* shim_of(sqlite3_file* f) {
    return reinterpret_cast<shim_file*>(f);
}
overlay* overlay_of(sqlite3_file* f) {
    auto* s = shim_of(f);
    return s->data ? s->data->get() : nullptr;
}

sqlite3_int64 real_size(sqlite3_file* f) {
    sqlite3_int64 size = 0;
    real_of(f)->pMethods->xFileSize(real_of(f), &size);
    return size;
}

sqlite3_int64 logical_size(sqlite3_file* f, const overlay& o) {
    sqlite3_int64 size = real_size(f);
    for (const auto& op : o.ops)
        size = op.truncate ? op.offset
                           : std::max<sqlite3_int64>(
                                 size, op.offset + static_cast<sqlite3_int64>(op.data.size()));
    return size;
}

/// Writes the pending changes to the real file (not synced: the caller syncs next).
int apply(sqlite3_file* f, overlay& o) {
    for (const auto& op : o.ops) {
        int rc = op.truncate
                     ? real_of(f)->pMethods->xTruncate(real_of(f), op.offset)
                     : real_of(f)->pMethods->xWrite(real_of(f), op.data.data(),
                                                    static_cast<int>(op.data.size()), op.offset);
        if (rc != SQLITE_OK)
            return rc;
    }
    o.ops.clear();
    return SQLITE_OK;
}

[[noreturn]] void power_cut() {
    auto& s = g();
    std::mt19937 rng(s.seed);
    long kept = 0, dropped = 0, partial = 0, pending = 0;
    for (auto& [path, o] : s.files) {
        if (o->ops.empty())
            continue;
        int fd = s.torn ? ::open(path.c_str(), O_WRONLY | O_CLOEXEC) : -1;
        for (const auto& op : o->ops) {
            ++pending;
            if (!s.torn || fd < 0 || op.truncate) {
                ++dropped;  // a lost size change leaves the old size: also a possible outcome
                continue;
            }
            switch (rng() % 3) {
                case 0:
                    ++dropped;
                    break;
                case 1:
                    ++kept;
                    if (::pwrite(fd, op.data.data(), op.data.size(), op.offset) < 0)
                        std::perror("powercut: pwrite");
                    break;
                default: {
                    ++partial;
                    for (std::size_t at = 0; at < op.data.size(); at += 512) {
                        if (rng() % 2)
                            continue;
                        std::size_t n = std::min<std::size_t>(512, op.data.size() - at);
                        if (::pwrite(fd, op.data.data() + at, n, op.offset + at) < 0)
                            std::perror("powercut: pwrite");
                    }
                }
            }
        }
        if (fd >= 0)
            ::close(fd);
    }
    if (s.report) {
        if (FILE* out = std::fopen(s.report, "a")) {
            std::fprintf(out,
                         "{\"sync\":%ld,\"mode\":\"%s\",\"pending\":%ld,\"dropped\":%ld,"
                         "\"kept\":%ld,\"partial\":%ld}\n",
                         s.syncs, s.torn ? "torn" : "drop", pending, dropped, kept, partial);
            std::fclose(out);
        }
    }
    std::raise(SIGKILL);
    std::_Exit(137);
}

int x_close(sqlite3_file* f) {
    auto* s = shim_of(f);
    int rc = real_of(f)->pMethods->xClose(real_of(f));
    // The overlay stays in the registry: unsynced writes outlive the handle, as in a page cache.
    delete s->path;
    delete s->data;
    s->path = nullptr;
    s->data = nullptr;
    return rc;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
    std::lock_guard lock(g().mutex);
    overlay* o = overlay_of(f);
    if (!o || o->ops.empty())
        return real_of(f)->pMethods->xRead(real_of(f), buf, amount, offset);
    auto* out = static_cast<unsigned char*>(buf);
    int rc = real_of(f)->pMethods->xRead(real_of(f), buf, amount, offset);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
        return rc;
    sqlite3_int64 size = real_size(f);
    const sqlite3_int64 end = offset + amount;
    for (const auto& op : o->ops) {
        if (op.truncate) {
            size = op.offset;
            if (size < end)
                std::memset(out + std::max<sqlite3_int64>(size - offset, 0), 0,
                            static_cast<std::size_t>(end - std::max(size, offset)));
            continue;
        }
        const sqlite3_int64 op_end = op.offset + static_cast<sqlite3_int64>(op.data.size());
        size = std::max(size, op_end);
        const sqlite3_int64 from = std::max(offset, op.offset), to = std::min(end, op_end);
        if (from < to)
            std::memcpy(out + (from - offset), op.data.data() + (from - op.offset),
                        static_cast<std::size_t>(to - from));
    }
    if (size < end) {
        std::memset(out + std::max<sqlite3_int64>(size - offset, 0), 0,
                    static_cast<std::size_t>(end - std::max(size, offset)));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
    std::lock_guard lock(g().mutex);
    overlay* o = overlay_of(f);
    if (!o)
        return real_of(f)->pMethods->xWrite(real_of(f), buf, amount, offset);
    o->ops.push_back(
        {false, offset, std::string(static_cast<const char*>(buf), static_cast<size_t>(amount))});
    return SQLITE_OK;
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    std::lock_guard lock(g().mutex);
    overlay* o = overlay_of(f);
    if (!o)
        return real_of(f)->pMethods->xTruncate(real_of(f), size);
    o->ops.push_back({true, size, {}});
    return SQLITE_OK;
}

int x_sync(sqlite3_file* f, int flags) {
    std::lock_guard lock(g().mutex);
    overlay* o = overlay_of(f);
    if (!o)
        return real_of(f)->pMethods->xSync(real_of(f), flags);
    auto& s = g();
    if (++s.syncs == s.cut_at)
        power_cut();
    if (int rc = apply(f, *o); rc != SQLITE_OK)
        return rc;
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
    std::lock_guard lock(g().mutex);
    overlay* o = overlay_of(f);
    if (!o || o->ops.empty())
        return real_of(f)->pMethods->xFileSize(real_of(f), size);
    *size = logical_size(f, *o);
    return SQLITE_OK;
}

int x_lock(sqlite3_file* f, int l) {
    return real_of(f)->pMethods->xLock(real_of(f), l);
}
int x_unlock(sqlite3_file* f, int l) {
    return real_of(f)->pMethods->xUnlock(real_of(f), l);
}
int x_check_reserved(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) {
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}
int x_device(sqlite3_file* f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}
int x_shm_unmap(sqlite3_file* f, int del) {
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}
int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
    *out = nullptr;  // no memory-mapped reads: they would bypass the overlay
    return SQLITE_OK;
}
int x_unfetch(sqlite3_file*, sqlite3_int64, void*) {
    return SQLITE_OK;
}

const sqlite3_io_methods methods = {3,           x_close,          x_read,         x_write,
                                    x_truncate,  x_sync,           x_file_size,    x_lock,
                                    x_unlock,    x_check_reserved, x_file_control, x_sector_size,
                                    x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
                                    x_shm_unmap, x_fetch,          x_unfetch};

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto& s = g();
    auto* shim = shim_of(f);
    shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
    shim->path = nullptr;
    shim->data = nullptr;
    int rc = s.real->xOpen(s.real, name, shim->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->pMethods = nullptr;
        return rc;
    }
    constexpr int buffered = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL;
    if (name && (flags & buffered)) {
        std::lock_guard lock(s.mutex);
        auto& slot = s.files[name];
        if (!slot)
            slot = std::make_shared<overlay>();
        shim->path = new std::string(name);
        shim->data = new std::shared_ptr<overlay>(slot);
    }
    f->pMethods = &methods;
    return SQLITE_OK;
}

int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
    auto& s = g();
    {
        std::lock_guard lock(s.mutex);
        if (auto it = s.files.find(name); it != s.files.end())
            it->second->ops.clear();
    }
    return s.real->xDelete(s.real, name, sync_dir);
}
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return g().real->xAccess(g().real, name, flags, out);
}
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return g().real->xFullPathname(g().real, name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) {
    return g().real->xDlOpen(g().real, name);
}
void v_dl_error(sqlite3_vfs*, int n, char* out) {
    g().real->xDlError(g().real, n, out);
}
void (*v_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
    return g().real->xDlSym(g().real, h, sym);
}
void v_dl_close(sqlite3_vfs*, void* h) {
    g().real->xDlClose(g().real, h);
}
int v_randomness(sqlite3_vfs*, int n, char* out) {
    return g().real->xRandomness(g().real, n, out);
}
int v_sleep(sqlite3_vfs*, int us) {
    return g().real->xSleep(g().real, us);
}
int v_current_time(sqlite3_vfs*, double* out) {
    return g().real->xCurrentTime(g().real, out);
}
int v_last_error(sqlite3_vfs*, int n, char* out) {
    return g().real->xGetLastError(g().real, n, out);
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
    return g().real->xCurrentTimeInt64(g().real, out);
}

__attribute__((constructor)) void install() {
    auto& s = g();
    if (const char* at = std::getenv("BOOKLORE_POWERCUT_AT"))
        s.cut_at = std::atol(at);
    if (const char* mode = std::getenv("BOOKLORE_POWERCUT_MODE"))
        s.torn = std::strcmp(mode, "torn") == 0;
    if (const char* seed = std::getenv("BOOKLORE_POWERCUT_SEED"))
        s.seed = static_cast<unsigned>(std::strtoul(seed, nullptr, 10));
    s.report = std::getenv("BOOKLORE_POWERCUT_REPORT");
    s.real = sqlite3_vfs_find(nullptr);
    if (!s.real) {
        std::fprintf(stderr, "powercut_vfs: no default VFS\n");
        std::_Exit(70);
    }
    s.vfs = *s.real;
    s.vfs.iVersion = 2;
    s.vfs.zName = "booklore-powercut";
    s.vfs.szOsFile = static_cast<int>(sizeof(shim_file)) + s.real->szOsFile;
    s.vfs.pNext = nullptr;
    s.vfs.xOpen = v_open;
    s.vfs.xDelete = v_delete;
    s.vfs.xAccess = v_access;
    s.vfs.xFullPathname = v_full_pathname;
    s.vfs.xDlOpen = v_dl_open;
    s.vfs.xDlError = v_dl_error;
    s.vfs.xDlSym = v_dl_sym;
    s.vfs.xDlClose = v_dl_close;
    s.vfs.xRandomness = v_randomness;
    s.vfs.xSleep = v_sleep;
    s.vfs.xCurrentTime = v_current_time;
    s.vfs.xGetLastError = v_last_error;
    s.vfs.xCurrentTimeInt64 = v_current_time_int64;
    if (sqlite3_vfs_register(&s.vfs, 1) != SQLITE_OK) {
        std::fprintf(stderr, "powercut_vfs: cannot register the VFS\n");
        std::_Exit(70);
    }
}

}  // namespace
