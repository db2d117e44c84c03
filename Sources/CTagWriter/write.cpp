#include "avalon_tagwriter.h"

#include <cstdlib>
#include <fileref.h>
#include <tag.h>
#include <tpropertymap.h>
#include <mpegfile.h>
#include <id3v1tag.h>
#include <id3v2tag.h>

static void put(TagLib::PropertyMap &props, const char *key, const char *value) {
    if (!value) return;
    if (!*value) { props.erase(key); return; }
    props.replace(key, TagLib::StringList(TagLib::String(value, TagLib::String::UTF8)));
}

static void put_all(TagLib::PropertyMap &props, const char *title, const char *album, const char *artist,
                    const char *genre, const char *track, const char *date) {
    put(props, "TITLE", title);
    put(props, "ALBUM", album);
    put(props, "ARTIST", artist);
    put(props, "GENRE", genre);
    put(props, "TRACKNUMBER", track);
    put(props, "DATE", date);
}

extern "C" int avalon_write_tags(const char *path, const char *title, const char *album, const char *artist,
                                 const char *genre, const char *track, const char *date) {
    TagLib::FileRef f(path);
    if (f.isNull() || !f.file()) return -1;
    TagLib::PropertyMap props = f.file()->properties();
    put_all(props, title, album, artist, genre, track, date);
    f.file()->setProperties(props);
    return f.save() ? 0 : -1;
}

extern "C" int avalon_write_property(const char *path, const char *key, const char *value) {
    TagLib::FileRef f(path);
    if (f.isNull() || !f.file()) return -1;
    TagLib::PropertyMap props = f.file()->properties();
    put(props, key, value);
    f.file()->setProperties(props);
    return f.save() ? 0 : -1;
}

extern "C" int avalon_write_mp3_tags(const char *path, int kind, const char *title, const char *album, const char *artist,
                                     const char *genre, const char *track, const char *date) {
    TagLib::MPEG::File f(path);
    if (!f.isValid()) return -1;
    if (kind == 1) {
        TagLib::ID3v1::Tag *t = f.ID3v1Tag(true);
        if (title) t->setTitle(TagLib::String(title, TagLib::String::UTF8));
        if (album) t->setAlbum(TagLib::String(album, TagLib::String::UTF8));
        if (artist) t->setArtist(TagLib::String(artist, TagLib::String::UTF8));
        if (genre) t->setGenre(TagLib::String(genre, TagLib::String::UTF8));
        if (track) t->setTrack(atoi(track));
        if (date) t->setYear(atoi(date));
        return f.save(TagLib::MPEG::File::ID3v1, true) ? 0 : -1;
    }
    TagLib::PropertyMap props = f.properties();
    put_all(props, title, album, artist, genre, track, date);
    f.setProperties(props);
    return f.save(TagLib::MPEG::File::ID3v2, true, kind == 23 ? 3 : 4) ? 0 : -1;
}
