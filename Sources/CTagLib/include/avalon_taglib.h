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
} avalon_tags;

/* 0 on success; -1 when the file is not audio TagLib can read (err says why). */
int avalon_read_tags(const char *path, avalon_tags *out, char *err, int errlen);
void avalon_free_tags(avalon_tags *tags);

#ifdef __cplusplus
}
#endif
#endif
