#include "avalon_taglib.h"

#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fileref.h>
#include <tag.h>
#include <tpropertymap.h>
#include <id3v1genres.h>
#include <mpegfile.h>
#include <id3v1tag.h>

static char *dup_first(const TagLib::PropertyMap &props, const char *key) {
    TagLib::PropertyMap::ConstIterator it = props.find(key);
    if (it == props.end() || it->second.isEmpty()) return nullptr;
    return strdup(it->second.front().toCString(true));
}

/* ID3 numeric genres, "(17)" or "17", become their names. */
static char *genre_name(char *genre) {
    if (!genre) return genre;
    const char *s = genre;
    size_t n = strlen(s);
    bool paren = n >= 3 && s[0] == '(' && s[n - 1] == ')';
    const char *digits = paren ? s + 1 : s;
    size_t dn = paren ? n - 2 : n;
    if (dn == 0 || dn > 3) return genre;
    int v = 0;
    for (size_t i = 0; i < dn; i++) {
        if (digits[i] < '0' || digits[i] > '9') return genre;
        v = v * 10 + (digits[i] - '0');
    }
    TagLib::String name = TagLib::ID3v1::genre(v);
    if (name.isEmpty()) return genre;
    free(genre);
    return strdup(name.toCString(true));
}

extern "C" int avalon_read_tags(const char *path, avalon_tags *out, char *err, int errlen) {
    memset(out, 0, sizeof(*out));
    try {
        TagLib::FileRef f(path, true, TagLib::AudioProperties::Average);
        if (f.isNull() || !f.file() || !f.file()->isValid()) {
            snprintf(err, errlen, "not an audio file TagLib can read");
            return -1;
        }
        TagLib::AudioProperties *ap = f.audioProperties();
        /* TagLib accepts e.g. a text file named .mp3 as an MPEG file with no frames. */
        if (!ap || ap->sampleRate() <= 0) {
            snprintf(err, errlen, "no audio stream found");
            return -1;
        }
        TagLib::PropertyMap props = f.file()->properties();
        out->title = dup_first(props, "TITLE");
        out->album = dup_first(props, "ALBUM");
        out->artist = dup_first(props, "ARTIST");
        out->genre = genre_name(dup_first(props, "GENRE"));
        out->track = dup_first(props, "TRACKNUMBER");
        out->date = dup_first(props, "DATE");
        out->length = ap->lengthInMilliseconds() / 1000;
        return 0;
    } catch (const std::exception &e) {
        snprintf(err, errlen, "TagLib failed: %s", e.what());
        return -1;
    } catch (...) {
        snprintf(err, errlen, "TagLib failed");
        return -1;
    }
}

extern "C" void avalon_free_tags(avalon_tags *t) {
    free(t->title); free(t->album); free(t->artist); free(t->genre); free(t->track); free(t->date);
    memset(t, 0, sizeof(*t));
}
