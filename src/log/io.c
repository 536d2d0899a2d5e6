/*
 * io.c - the log's one seam to the disk (see rn_log_io in logInt.h): the
 * real calls by default, replaceable by tests to inject ENOSPC, EIO and
 * torn writes. Plus the retry loops every caller would otherwise repeat.
 *
 * Layer: src/log. Thread-safe as long as tests do not swap members while
 * logs are in use.
 */
#include "log/logInt.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int real_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

rn_log_io rn_log_io_ops = {real_open, pread, pwrite, fdatasync, ftruncate, fallocate};

void rn_log_io_reset(void)
{
    rn_log_io_ops.open = real_open;
    rn_log_io_ops.pread = pread;
    rn_log_io_ops.pwrite = pwrite;
    rn_log_io_ops.fdatasync = fdatasync;
    rn_log_io_ops.ftruncate = ftruncate;
    rn_log_io_ops.fallocate = fallocate;
}

int rn_logio_pwrite_all(int fd, const void *buf, size_t n, int64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = rn_log_io_ops.pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO; /* no progress and no errno */
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

ssize_t rn_logio_pread_all(int fd, void *buf, size_t n, int64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = rn_log_io_ops.pread(fd, p + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break; /* end of file */
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int rn_logio_fdatasync(int fd)
{
    return rn_log_io_ops.fdatasync(fd) < 0 ? -errno : 0;
}

int rn_logio_ftruncate(int fd, int64_t len)
{
    while (rn_log_io_ops.ftruncate(fd, (off_t)len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int rn_logio_reserve(int fd, int64_t off, int64_t len)
{
    while (rn_log_io_ops.fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}
