#include "avalon_system.h"

#ifndef AVALON_COMMIT
#define AVALON_COMMIT "unknown"
#endif
#ifndef AVALON_BUILD_DATE
#define AVALON_BUILD_DATE "unknown"
#endif

const char *avalon_build_commit(void) { return AVALON_COMMIT; }
const char *avalon_build_date(void) { return AVALON_BUILD_DATE; }
