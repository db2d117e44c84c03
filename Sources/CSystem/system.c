#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
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
