/* Cover pictures: chosen from a file's tags in the tag reader child (the
   same open as its tags), named by the SHA-256 of their bytes and stored
   once in the cover cache. The type comes from the bytes, never from a tag. */
#include "avalon_taglib.h"
#include "pictures.h"

#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <attachedpictureframe.h>
#include <flacfile.h>
#include <id3v2tag.h>
#include <mp4tag.h>
#include <mpegfile.h>
#include <xiphcomment.h>

namespace {

/* The extension of what the first bytes show, or NULL for anything else. */
const char *sniff(const unsigned char *p, size_t n) {
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "jpg";
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "webp";
    return nullptr;
}

bool write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

}  // namespace

int avalon_store_picture(const char *dir, const unsigned char *data, size_t len, int front, avalon_picture *out,
                         char *err, int errlen) {
    memset(out, 0, sizeof *out);
    const char *ext = sniff(data, len);
    if (!ext) return 0;  /* not an image type clients can show: no picture */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), nullptr) != 1 || mdlen != 32) {
        snprintf(err, errlen, "cannot hash its picture");
        return -1;
    }
    char *w = out->name;
    for (unsigned i = 0; i < 32; i++) w += sprintf(w, "%02x", md[i]);
    sprintf(w, ".%s", ext);
    out->front = front;
    std::string path = std::string(dir) + "/" + out->name;
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        /* Stored already: its time says a scan uses it now, so a scan that
           started earlier and does not know it leaves it in the cache. */
        utimensat(AT_FDCWD, path.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    static unsigned counter;
    char tmp_name[128];
    snprintf(tmp_name, sizeof tmp_name, ".tmp-%s-%d-%u", out->name, (int)getpid(), counter++);
    std::string tmp = std::string(dir) + "/" + tmp_name;
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot store its picture in the cover cache %s: %s", dir, strerror(errno));
        memset(out, 0, sizeof *out);
        return -1;
    }
    /* On disk before its name is: the database may name it once this scan commits. */
    bool ok = write_all(fd, data, len) && fdatasync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) != 0) { ok = false; e = errno; }
    if (!ok) {
        unlink(tmp.c_str());
        snprintf(err, errlen, "cannot store its picture in the cover cache %s: %s", dir, strerror(e));
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int avalon_file_picture(TagLib::File *f, const char *dir, avalon_picture *out, char *err, int errlen) {
    TagLib::ByteVector chosen;
    bool found = false, front = false;
    auto offer = [&](const TagLib::ByteVector &data, bool is_front) {
        if (data.isEmpty() || data.size() > avalon_max_picture || front) return;
        if (!found || is_front) { chosen = data; found = true; front = is_front; }
    };
    if (auto *mpeg = dynamic_cast<TagLib::MPEG::File *>(f)) {
        if (mpeg->hasID3v2Tag()) {
            for (auto *frame : mpeg->ID3v2Tag()->frameListMap()["APIC"]) {
                if (auto *apic = dynamic_cast<TagLib::ID3v2::AttachedPictureFrame *>(frame))
                    offer(apic->picture(), apic->type() == TagLib::ID3v2::AttachedPictureFrame::FrontCover);
            }
        }
    } else if (auto *flac = dynamic_cast<TagLib::FLAC::File *>(f)) {
        for (auto *p : flac->pictureList()) offer(p->data(), p->type() == TagLib::FLAC::Picture::FrontCover);
    } else if (auto *xiph = dynamic_cast<TagLib::Ogg::XiphComment *>(f->tag())) {
        /* Vorbis, Opus, Speex, Ogg FLAC: METADATA_BLOCK_PICTURE. */
        for (auto *p : xiph->pictureList()) offer(p->data(), p->type() == TagLib::FLAC::Picture::FrontCover);
    } else if (auto *mp4 = dynamic_cast<TagLib::MP4::Tag *>(f->tag())) {
        if (mp4->contains("covr")) {
            for (const auto &c : mp4->item("covr").toCoverArtList()) offer(c.data(), true);
        }
    }
    memset(out, 0, sizeof *out);
    if (!found) return 0;
    return avalon_store_picture(dir, reinterpret_cast<const unsigned char *>(chosen.data()), chosen.size(), front, out, err, errlen);
}

bool avalon_inside_root(int fd, const char *root) {
    char link[64], real[PATH_MAX + 1];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, PATH_MAX);
    if (n <= 0) return false;
    real[n] = 0;
    size_t r = strlen(root);
    if (r == 1 && root[0] == '/') return real[0] == '/';
    return (size_t)n > r && strncmp(real, root, r) == 0 && real[r] == '/';
}

extern "C" int avalon_folder_image_rank(const char *name) {
    static const char *const stems[] = {"cover", "folder", "front", "album"};
    static const char *const exts[] = {"jpg", "jpeg", "png", "webp"};
    const char *dot = strrchr(name, '.');
    if (!dot) return -1;
    size_t stem_len = (size_t)(dot - name);
    for (int s = 0; s < 4; s++) {
        if (strlen(stems[s]) != stem_len || strncasecmp(name, stems[s], stem_len) != 0) continue;
        for (int e = 0; e < 4; e++) if (strcasecmp(dot + 1, exts[e]) == 0) return s * 4 + e;
    }
    return -1;
}

extern "C" int avalon_sync_folder(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}
