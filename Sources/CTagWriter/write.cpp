#include "avalon_tagwriter.h"

#include <cstdlib>
#include <cstring>
#include <fileref.h>
#include <tag.h>
#include <tpropertymap.h>
#include <mpegfile.h>
#include <id3v1tag.h>
#include <id3v2tag.h>
#include <attachedpictureframe.h>
#include <flacfile.h>
#include <flacpicture.h>
#include <mp4file.h>
#include <mp4coverart.h>
#include <vorbisfile.h>
#include <opusfile.h>
#include <xiphcomment.h>

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

static TagLib::FLAC::Picture *flac_picture(const TagLib::ByteVector &data, const char *mime, int type) {
    auto *p = new TagLib::FLAC::Picture();
    p->setData(data);
    p->setMimeType(mime);
    p->setType((TagLib::FLAC::Picture::Type)type);
    return p;
}

extern "C" int avalon_write_picture(const char *path, const unsigned char *data, unsigned len, const char *mime, int type) {
    TagLib::ByteVector bytes(reinterpret_cast<const char *>(data), len);
    TagLib::FileRef f(path);
    if (f.isNull() || !f.file()) return -1;
    TagLib::File *file = f.file();
    if (auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(file)) {
        TagLib::ID3v2::Tag *t = mpeg->ID3v2Tag(true);
        t->removeFrames("APIC");
        if (len) {
            auto *frame = new TagLib::ID3v2::AttachedPictureFrame();
            frame->setPicture(bytes);
            frame->setMimeType(mime);
            frame->setType((TagLib::ID3v2::AttachedPictureFrame::Type)type);
            t->addFrame(frame);
        }
        return mpeg->save(TagLib::MPEG::File::ID3v2, true, 4) ? 0 : -1;
    }
    if (auto *flac = dynamic_cast<TagLib::FLAC::File *>(file)) {
        flac->removePictures();
        if (len) flac->addPicture(flac_picture(bytes, mime, type));
        return flac->save() ? 0 : -1;
    }
    if (auto *xiph = dynamic_cast<TagLib::Ogg::XiphComment *>(file->tag())) {
        xiph->removeAllPictures();
        if (len) xiph->addPicture(flac_picture(bytes, mime, type));
        return file->save() ? 0 : -1;
    }
    if (auto *mp4 = dynamic_cast<TagLib::MP4::Tag *>(file->tag())) {
        if (len) {
            TagLib::MP4::CoverArt::Format format = strcmp(mime, "image/png") == 0 ? TagLib::MP4::CoverArt::PNG : TagLib::MP4::CoverArt::JPEG;
            TagLib::MP4::CoverArtList list;
            list.append(TagLib::MP4::CoverArt(format, bytes));
            mp4->setItem("covr", TagLib::MP4::Item(list));
        } else {
            mp4->removeItem("covr");
        }
        return file->save() ? 0 : -1;
    }
    return -1;
}
