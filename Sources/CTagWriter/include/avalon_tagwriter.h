#ifndef AVALON_TAGWRITER_H
#define AVALON_TAGWRITER_H
/* Writing tags: only tests and avalon-bench make tagged files, so the
   scanner does not link this. */
#ifdef __cplusplus
extern "C" {
#endif

/* Sets the given tags (NULL leaves one unchanged); 0 on success. For tests
   and for making demo collections. */
int avalon_write_tags(const char *path, const char *title, const char *album, const char *artist,
                      const char *genre, const char *track, const char *date);

/* MP3 only: which tags to save. 24: ID3v2.4, 23: ID3v2.3, 1: ID3v1 alone. */
int avalon_write_mp3_tags(const char *path, int kind, const char *title, const char *album, const char *artist,
                          const char *genre, const char *track, const char *date);

/* Sets one property by TagLib's name (e.g. DISCNUMBER; "" removes it); 0 on success. */
int avalon_write_property(const char *path, const char *key, const char *value);

/* Replaces the file's pictures with one (MP3: ID3v2 APIC; FLAC: a picture
   block; Ogg: METADATA_BLOCK_PICTURE; MP4: covr) of the given type (3: front
   cover) and MIME type; len 0 removes them all. 0 on success. */
int avalon_write_picture(const char *path, const unsigned char *data, unsigned len, const char *mime, int type);

#ifdef __cplusplus
}
#endif
#endif
