/* Inside CTagLib only: pictures read in the tag reader. */
#include "avalon_taglib.h"
#include <cstddef>
#include <tfile.h>

/* Largest picture taken, embedded or a folder image: far past any cover,
   short of a hostile or mistaken file filling memory and the cache. */
const size_t avalon_max_picture = 32 << 20;

/* Whether the open file `fd` lies under `root` (a real path) by its real
   path: a folder reached through a symlinked directory does not. */
bool avalon_inside_root(int fd, const char *root);

/* Stores `data` in `dir` under its content name (when its bytes are an image
   of a known type; otherwise `out` stays empty). -1 when it cannot be stored. */
int avalon_store_picture(const char *dir, const unsigned char *data, size_t len, int front, avalon_picture *out,
                         char *err, int errlen);
/* The picture of an open file's tags (front cover first, else the first), stored. */
int avalon_file_picture(TagLib::File *f, const char *dir, avalon_picture *out, char *err, int errlen);
