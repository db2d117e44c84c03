#include <fcgiapp.h>
#include <sys/prctl.h>
#include <signal.h>
#include <malloc.h>

/* prctl is variadic, which Swift cannot call: a worker uses this to stop with its master. */
static inline int avalon_exit_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGTERM); }
