#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/vfs.h>
#include <string.h>
#include "avalon_system.h"

#ifndef AVALON_COMMIT
#define AVALON_COMMIT "unknown"
#endif
#ifndef AVALON_BUILD_DATE
#define AVALON_BUILD_DATE "unknown"
#endif

const char *avalon_build_commit(void) { return AVALON_COMMIT; }
const char *avalon_build_date(void) { return AVALON_BUILD_DATE; }

int avalon_insert_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_INSERT_RANGE, (off_t)offset, (off_t)length);
}

/* Snapshot checksums: CRC-32C of three lanes of a buffer (its thirds, at
   8-byte boundaries) run side by side, then of the three results. Three
   lanes because one crc32 instruction chain waits on each result (3 cycles);
   three chains keep the unit busy: about 3 times the speed of one. The
   portable path computes the same value a byte at a time. */
static uint32_t crc_table[256];

__attribute__((constructor)) static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[i] = c;
    }
}

static uint32_t crc_bytes(uint32_t crc, const uint8_t *p, size_t n) {
    while (n--) crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
    return crc;
}

static uint32_t lanes_done(uint32_t a, uint32_t b, uint32_t c, const uint8_t *tail, size_t n) {
    uint8_t out[12];
    memcpy(out, &a, 4); memcpy(out + 4, &b, 4); memcpy(out + 8, &c, 4);
    return ~crc_bytes(crc_bytes(~0u, out, 12), tail, n);
}

uint32_t avalon_checksum_portable(const void *data, size_t n) {
    const uint8_t *p = data;
    size_t lane = (n / 24) * 8;
    uint32_t a = crc_bytes(~0u, p, lane), b = crc_bytes(~0u, p + lane, lane), c = crc_bytes(~0u, p + 2 * lane, lane);
    return lanes_done(a, b, c, p + 3 * lane, n - 3 * lane);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t checksum_sse42(const uint8_t *p, size_t n) {
    size_t lane = (n / 24) * 8;
    uint64_t a = ~0u, b = ~0u, c = ~0u;
    const uint8_t *pa = p, *pb = p + lane, *pc = p + 2 * lane;
    for (size_t i = 0; i < lane; i += 8) {
        uint64_t x, y, z;
        memcpy(&x, pa + i, 8); memcpy(&y, pb + i, 8); memcpy(&z, pc + i, 8);
        a = __builtin_ia32_crc32di(a, x);
        b = __builtin_ia32_crc32di(b, y);
        c = __builtin_ia32_crc32di(c, z);
    }
    return lanes_done((uint32_t)a, (uint32_t)b, (uint32_t)c, p + 3 * lane, n - 3 * lane);
}
#endif

uint32_t avalon_checksum(const void *data, size_t n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return checksum_sse42(data, n);
#endif
    return avalon_checksum_portable(data, n);
}

/* An unnamed file in a folder (O_TMPFILE), linked in only once complete:
   a writer killed midway leaves nothing behind. -1 where unsupported. */
int avalon_open_unnamed(int dirfd, unsigned mode) {
    return openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)mode);
}

/* A folder by name in dirfd, opened only to walk on (O_PATH: no read
   permission needed), never following a link. */
int avalon_open_walk(int dirfd, const char *name) {
    return openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Whether fd is on a FUSE mount, whose owners and modes say what the
   mount's owner wants: 1 yes, 0 no, -1 unknown. */
int avalon_on_fuse(int fd) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    return fs.f_type == 0x65735546 ? 1 : 0;
}
