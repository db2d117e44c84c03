#ifndef AVALON_SYSTEM_H
#define AVALON_SYSTEM_H
/* Small pieces of the C library that Swift cannot call as they are. */
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/random.h>

/* prctl is variadic: a worker uses this to stop with its master. */
static inline int avalon_exit_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGTERM); }

/* Atomics on words of memory shared between processes (mapped before fork).
   Swift's Atomic must live inside a Swift value; these work at any address.
   Relaxed order: every word is a counter or a value read on its own. */
static inline uint64_t avalon_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void avalon_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
/* An increment by the word's only writer: a load and a store, no locked
   instruction, since no other process writes that word. */
static inline void avalon_add_own(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* fallocate(FALLOC_FL_INSERT_RANGE): a hole inserted inside a file (the
   benchmark's music files; fallocate needs _GNU_SOURCE, set in the .c file). */
int avalon_insert_hole(int fd, int64_t offset, int64_t length);

/* What the build scripts stamp in with -Xcc -DAVALON_COMMIT=... (and _BUILD_DATE). */
const char *avalon_build_commit(void);
const char *avalon_build_date(void);

/* A snapshot section's checksum (CRC-32C in three lanes, see system.c), and
   the same computed a byte at a time, which tests hold it to. */
uint32_t avalon_checksum(const void *data, size_t n);
uint32_t avalon_checksum_portable(const void *data, size_t n);

/* openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode): the macro is
   not visible to Swift. */
int avalon_open_unnamed(int dirfd, unsigned mode);

/* openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), and
   whether a descriptor is on FUSE (1, 0; -1 unknown): for the snapshot's
   folder walk. */
int avalon_open_walk(int dirfd, const char *name);
int avalon_on_fuse(int fd);
#endif
