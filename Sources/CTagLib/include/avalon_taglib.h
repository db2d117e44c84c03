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

/* A picture stored in the cover cache: its file name there (64 hex digits of
   the SHA-256 of its bytes, a dot, the extension of the type its first bytes
   show), empty when none; `front` when it is a front cover (or the file's only
   kind, MP4 covr). */
typedef struct {
    char name[80];
    int front;
} avalon_picture;

/* Reads a regular file's tags, opened read-only (a symlink only when `follow`).
   0 on success; -1 when it is not audio TagLib can read; -2 when it cannot be
   opened (permissions, I/O) or its picture cannot be stored: err says why.
   With `picture_dir`, the embedded picture (front cover first, else the first)
   is stored there, read in the same open; a folder image (`cover.jpg`, …, see
   avalon_is_folder_image) is read and stored instead of tags, answering -1 with
   err "folder image". Pictures are taken only from regular files whose real
   path is under `music_root` (a real path), a folder image never through a
   symlink, and none larger than 32 MiB. In this process: a file that crashes TagLib crashes the
   caller. */
int avalon_read_tags(const char *path, int follow, const char *picture_dir, const char *music_root,
                     avalon_tags *out, avalon_picture *picture, char *err, int errlen);

/* The rank of a file name as a folder image: cover, folder, front, album
   (any case), each with .jpg, .jpeg, .png, .webp, in that order: 0 to 15;
   -1 for any other name. */
int avalon_folder_image_rank(const char *name);

/* fsync of a folder: the names of the pictures the readers stored (each
   written with fdatasync before its rename) reach the disk before the database
   names them. 0 on success. */
int avalon_sync_folder(const char *path);
void avalon_free_tags(avalon_tags *tags);

/* What reading one file in a tag reader process gave. */
enum { AVALON_READ_OK = 0, AVALON_READ_NOT_AUDIO = 1, AVALON_READ_UNREADABLE = 2, AVALON_READ_CRASHED = 3, AVALON_READ_HUNG = 4 };
typedef struct {
    int status;
    avalon_tags tags;  /* AVALON_READ_OK only */
    char err[256];     /* the others: why */
    avalon_picture picture;
} avalon_read_result;

/* A child process (forked, so no executable of its own is needed) that
   reads tags for its parent: a crash or an endless loop on one file costs
   that file, not the scan. pid 0: none running. */
typedef struct {
    int pid;
    int fd;
    /* The cover cache the child stores pictures in; NULL: pictures are not read. */
    const char *picture_dir;
    /* The real path of the music folder: pictures come only from under it. */
    const char *music_root;
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
