/* wal_buffer.c: a VFS shim that turns SQLite's many small writes to the -wal file into a few
 * large ones.
 *
 * SQLite appends a commit's frames to the WAL with two write() calls per page (the 24-byte
 * frame header, then the page), one system call each: at 100,000 events/s that was about one
 * write() per event on the writer thread, and on a virtual machine a system call costs more
 * than copying the page. This shim keeps the WAL's pending writes in one buffer while they
 * are contiguous and hands them to the real file in one write() when they stop being so, when
 * the buffer is full, and before anything that must see them: xSync, xRead, xTruncate,
 * xFileSize, xClose. Other files (the database, its -shm) go straight to the
 * default VFS: xOpen opens them in place.
 *
 * Durability is unchanged: a commit's frames reach the file before its xSync, and the sync is
 * what makes a commit durable. This relies on every recd connection running with
 * synchronous=FULL (rec_store_db_open sets it): SQLite then syncs the WAL at each commit before
 * it publishes the new frames in the wal-index, so no other connection can look for a frame
 * that is still in this buffer. With synchronous=NORMAL it could; do not use the shim there.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* Bytes gathered per write(), per open WAL: 16 pages and their headers in 2 system calls
 * instead of 32. The unix VFS takes at most 128 KiB - 1 per xWrite (it masks the length with
 * 0x1ffff; a longer write fails as SQLITE_FULL), so this stays well below. */
#define WALBUF_BYTES (64 * 1024)

struct walbuf_file {
    sqlite3_file base;         /* pMethods = &walbuf_methods */
    sqlite3_file *real;        /* the default VFS's file, in the bytes after this struct */
    unsigned char *buf;        /* WALBUF_BYTES, malloc'd at the first write */
    sqlite3_int64 buf_off;     /* file offset of buf[0] */
    int buf_len;               /* bytes pending in buf */
};

static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_methods;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_rc = SQLITE_ERROR;

/* Writes out what buf holds. SQLITE_OK or the real file's error. Either way buf is empty
 * after: the error reaches SQLite through the call that flushed (xWrite, xSync, xRead, ...),
 * which fails the transaction those frames belonged to, and SQLite writes its next frames over
 * them (a disk that was full must not keep failing on stale frames once it has room again). So
 * only calls whose errors SQLite acts on may flush: not xFileControl, whose hints it ignores. */
static int flush(struct walbuf_file *f)
{
    if (f->buf_len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, f->buf_len, f->buf_off);
    f->buf_len = 0;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    int rc_close = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    f->buf_len = 0;
    return rc != SQLITE_OK ? rc : rc_close;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    if (f->buf_len > 0 && off == f->buf_off + f->buf_len && amt <= WALBUF_BYTES - f->buf_len) {
        memcpy(f->buf + f->buf_len, data, (size_t)amt);
        f->buf_len += amt;
        return SQLITE_OK;
    }
    int rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (!f->buf && !(f->buf = malloc(WALBUF_BYTES)))
        return f->real->pMethods->xWrite(f->real, data, amt, off); /* unbuffered, still right */
    if (amt >= WALBUF_BYTES)
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    memcpy(f->buf, data, (size_t)amt);
    f->buf_off = off;
    f->buf_len = amt;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

/* No flush (see flush()): no file control of a WAL needs the pending frames in the file. */
static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* The shared-memory and mmap methods belong to the database file, which is not wrapped; they
 * are forwarded all the same so the method table is complete. */
static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    sqlite3_vfs *parent = vfs->pAppData;
    if (!(flags & SQLITE_OPEN_WAL))
        return parent->xOpen(parent, name, file, flags, out_flags); /* in place, unwrapped */
    struct walbuf_file *f = (struct walbuf_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = parent->xOpen(parent, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) { /* SQLite wants pMethods NULL after a failed open */
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc;
    }
    f->base.pMethods = &walbuf_methods;
    return SQLITE_OK;
}

/* The rest of the VFS is the default one's. */
static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xDelete(p, name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xAccess(p, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xFullPathname(p, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xDlOpen(p, name);
}

static void wb_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    sqlite3_vfs *p = vfs->pAppData;
    p->xDlError(p, n, msg);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xDlSym(p, h, sym);
}

static void wb_dl_close(sqlite3_vfs *vfs, void *h)
{
    sqlite3_vfs *p = vfs->pAppData;
    p->xDlClose(p, h);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xRandomness(p, n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xSleep(p, us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xCurrentTime(p, out);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xGetLastError ? p->xGetLastError(p, n, msg) : 0;
}

static int wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    sqlite3_vfs *p = vfs->pAppData;
    return p->xCurrentTimeInt64(p, out);
}

static void walbuf_init(void)
{
    sqlite3_vfs *parent = sqlite3_vfs_find(NULL);
    /* the shim forwards version 3 methods (xFetch) and version 2 VFS calls: older defaults
     * are not worth a fallback, the store then opens with the default VFS */
    if (!parent || parent->iVersion < 2 || !parent->xCurrentTimeInt64)
        return;
    walbuf_methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = wb_close,
        .xRead = wb_read,
        .xWrite = wb_write,
        .xTruncate = wb_truncate,
        .xSync = wb_sync,
        .xFileSize = wb_file_size,
        .xLock = wb_lock,
        .xUnlock = wb_unlock,
        .xCheckReservedLock = wb_check_reserved,
        .xFileControl = wb_file_control,
        .xSectorSize = wb_sector_size,
        .xDeviceCharacteristics = wb_device_characteristics,
        .xShmMap = wb_shm_map,
        .xShmLock = wb_shm_lock,
        .xShmBarrier = wb_shm_barrier,
        .xShmUnmap = wb_shm_unmap,
        .xFetch = wb_fetch,
        .xUnfetch = wb_unfetch,
    };
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct walbuf_file) + parent->szOsFile,
        .mxPathname = parent->mxPathname,
        .zName = REC_STORE_VFS,
        .pAppData = parent,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time_int64,
    };
    walbuf_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

const char *rec_store_vfs(void)
{
    pthread_once(&walbuf_once, walbuf_init);
    return walbuf_rc == SQLITE_OK ? REC_STORE_VFS : NULL;
}
