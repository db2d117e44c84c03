#ifndef AVALON_TAGLIB_H
#define AVALON_TAGLIB_H
#ifdef __cplusplus
extern "C" {
#endif

/* Tags of one file as UTF-8, each the first value of its tag or NULL when
   absent. TagLib's C API joins multi-valued tags; this shim does not. */
typedef struct {
    char *title, *album, *artist, *genre;
    char *track;  /* raw, e.g. "3/12" */
    char *date;   /* raw, e.g. "1999-06-12" */
    int length;   /* whole seconds, rounded down */
    int bitrate;  /* kbit/s, TagLib's audio properties */
    char *disc;   /* raw, e.g. "1/2" (TPOS, DISCNUMBER, disk) */
} avalon_tags;

/* Reads a regular file's tags, opened read-only (a symlink only when `follow`).
   0 on success; -1 when it is not audio TagLib can read; -2 when it cannot be
   opened (permissions, I/O): err says why. In this process: a file that
   crashes TagLib crashes the caller. */
int avalon_read_tags(const char *path, int follow, avalon_tags *out, char *err, int errlen);
void avalon_free_tags(avalon_tags *tags);

/* What reading one file in a tag reader process gave. */
enum { AVALON_READ_OK = 0, AVALON_READ_NOT_AUDIO = 1, AVALON_READ_UNREADABLE = 2, AVALON_READ_CRASHED = 3, AVALON_READ_HUNG = 4 };
typedef struct {
    int status;
    avalon_tags tags;  /* AVALON_READ_OK only */
    char err[256];     /* the others: why */
} avalon_read_result;

/* A child process (forked, so no executable of its own is needed) that
   reads tags for its parent: a crash or an endless loop on one file costs
   that file, not the scan. pid 0: none running. */
typedef struct {
    int pid;
    int fd;
} avalon_reader;

/* Reads `count` files in the reader's child, started when none runs. A file
   that takes longer than `timeout_ms` or kills the child is AVALON_READ_HUNG
   or AVALON_READ_CRASHED, and a new child reads the rest. One thread uses a
   reader at a time. Each result's tags are the caller's to free. */
void avalon_reader_read(avalon_reader *r, const char *const *paths, const unsigned char *follow, int count,
                        avalon_read_result *results, int timeout_ms);
/* Ends the child. */
void avalon_reader_stop(avalon_reader *r);

#ifdef __cplusplus
}
#endif
#endif
