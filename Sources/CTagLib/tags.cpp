#include "avalon_taglib.h"
#include "pictures.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fileref.h>
#include <tiostream.h>
#include <tag.h>
#include <tpropertymap.h>
#include <id3v1genres.h>
#include <mpegfile.h>
#include <id3v1tag.h>
#include <algorithm>
#include <string>

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

/* An open file read through pread and never written: FileRef(path) opens
   read-write when it may, which writes nothing but wakes inotify watchers
   (IN_CLOSE_WRITE) and needs more rights than reading. The name only picks
   the format, by its extension. */
class ReadOnlyStream : public TagLib::IOStream {
public:
    ReadOnlyStream(const char *name, int fd, long size) : name_(name), fd_(fd), size_(size) {}
    TagLib::FileName name() const override { return name_; }
    TagLib::ByteVector readBlock(unsigned long length) override {
        if (pos_ >= size_ || length == 0) return TagLib::ByteVector();
        unsigned long want = std::min<unsigned long>(length, (unsigned long)(size_ - pos_));
        TagLib::ByteVector v((unsigned int)want, 0);
        unsigned long got = 0;
        while (got < want) {
            ssize_t n = pread(fd_, v.data() + got, want - got, pos_ + (off_t)got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (unsigned long)n;
        }
        v.resize((unsigned int)got);
        pos_ += (long)got;
        return v;
    }
    void writeBlock(const TagLib::ByteVector &) override {}
    void insert(const TagLib::ByteVector &, unsigned long, unsigned long) override {}
    void removeBlock(unsigned long, unsigned long) override {}
    bool readOnly() const override { return true; }
    bool isOpen() const override { return true; }
    void seek(long offset, Position p) override {
        long base = p == Beginning ? 0 : p == Current ? pos_ : size_;
        pos_ = std::max(0L, base + offset);
    }
    long tell() const override { return pos_; }
    long length() override { return size_; }
    void truncate(long) override {}
private:
    const char *name_;
    int fd_;
    long size_;
    long pos_ = 0;
};

/* A folder image's bytes, stored in the cover cache. Sparse files are
   refused: their size costs the cache and memory, not the disk they sit on. */
static int read_folder_image(int fd, const struct stat &st, const char *dir, avalon_picture *picture, char *err, int errlen) {
    if ((size_t)st.st_size > avalon_max_picture) { snprintf(err, errlen, "folder image larger than 32 MiB"); return -1; }
    if (st.st_size > (1 << 20) && (off_t)st.st_blocks * 512 < st.st_size / 2) {
        snprintf(err, errlen, "folder image is a sparse file");
        return -1;
    }
    std::string data((size_t)st.st_size, '\0');
    size_t got = 0;
    while (got < data.size()) {
        ssize_t n = pread(fd, &data[got], data.size() - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { snprintf(err, errlen, "cannot read: %s", strerror(errno)); return -2; }
        if (n == 0) break;
        got += (size_t)n;
    }
    if (avalon_store_picture(dir, reinterpret_cast<const unsigned char *>(data.data()), got, 1, picture, err, errlen) != 0) return -2;
    snprintf(err, errlen, picture->name[0] ? "folder image" : "folder image of an unknown type");
    return -1;
}

extern "C" int avalon_read_tags(const char *path, int follow, const char *picture_dir, const char *music_root,
                                avalon_tags *out, avalon_picture *picture, char *err, int errlen) {
    memset(out, 0, sizeof(*out));
    memset(picture, 0, sizeof(*picture));
    const char *slash = strrchr(path, '/');
    bool image = picture_dir && avalon_folder_image_rank(slash ? slash + 1 : path) >= 0;
    /* Regular files only: O_NONBLOCK keeps a FIFO put in the file's place
       since the walk from blocking the open, and fstat of what was opened
       turns it away. A link is followed only where the walk saw one, and
       never to a folder image: nginx serves the cache without the checks
       that keep streams inside the music folder. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (follow && !image ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) { snprintf(err, errlen, image ? "folder image is a symlink: not taken" : "not a regular file"); return -1; }
        if (e == ENOENT || e == ENOTDIR) { snprintf(err, errlen, "gone since the folder was read"); return -1; }
        snprintf(err, errlen, "cannot open: %s", strerror(e));
        return -2;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        close(fd);
        return -2;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return -1;
    }
    /* Pictures only from files whose real path is in the music folder: not
       through a symlinked file or a folder swapped for a link since the walk. */
    bool inside = picture_dir && music_root && avalon_inside_root(fd, music_root);
    if (image) {
        int rc = inside ? read_folder_image(fd, st, picture_dir, picture, err, errlen) : -1;
        if (!inside) snprintf(err, errlen, "folder image outside the music folder by its real path: not taken");
        close(fd);
        return rc;
    }
    int rc = -1;
    try {
        ReadOnlyStream stream(path, fd, (long)st.st_size);
        TagLib::FileRef f(&stream, true, TagLib::AudioProperties::Average);
        TagLib::AudioProperties *ap = f.isNull() ? nullptr : f.audioProperties();
        if (f.isNull() || !f.file() || !f.file()->isValid()) {
            snprintf(err, errlen, "not an audio file TagLib can read");
        } else if (!ap || ap->sampleRate() <= 0) {
            /* TagLib accepts e.g. a text file named .mp3 as an MPEG file with no frames. */
            snprintf(err, errlen, "no audio stream found");
        } else {
            TagLib::PropertyMap props = f.file()->properties();
            out->title = dup_first(props, "TITLE");
            out->album = dup_first(props, "ALBUM");
            out->artist = dup_first(props, "ARTIST");
            out->genre = genre_name(dup_first(props, "GENRE"));
            out->track = dup_first(props, "TRACKNUMBER");
            out->date = dup_first(props, "DATE");
            out->length = ap->lengthInMilliseconds() / 1000;
            out->bitrate = ap->bitrate();
            out->disc = dup_first(props, "DISCNUMBER");
            rc = inside ? avalon_file_picture(f.file(), picture_dir, picture, err, errlen) : 0;
            if (rc != 0) {
                avalon_free_tags(out);
                rc = -2;
            }
        }
    } catch (const std::exception &e) {
        avalon_free_tags(out);
        snprintf(err, errlen, "TagLib failed: %s", e.what());
    } catch (...) {
        avalon_free_tags(out);
        snprintf(err, errlen, "TagLib failed");
    }
    close(fd);
    return rc;
}

extern "C" void avalon_free_tags(avalon_tags *t) {
    free(t->title); free(t->album); free(t->artist); free(t->genre); free(t->track); free(t->date); free(t->disc);
    memset(t, 0, sizeof(*t));
}
