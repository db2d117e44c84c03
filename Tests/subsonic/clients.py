"""Whole Subsonic sessions against a running Avalon (nginx + avalon-fcgi).

Run by SubsonicTests.testClientSessions with the venv deploy/test.sh makes:
    clients.py PORT SPEC_DIR USER PASSWORD API_KEY EXPECTED_JSON

Two independent client libraries from PyPI (py-sonic's libsonic and
py-opensonic's libopensonic) browse, search and list as their users would,
signing in each way; every JSON answer the script fetches itself is
validated against the OpenSubsonic OpenAPI schemas, and the XML answer of the
same request must parse and carry the same data.
"""
import hashlib
import json
import pathlib
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import jsonschema
import libsonic
import libopensonic

import schemas

PORT, SPEC, USER, PASSWORD, API_KEY, EXPECTED = sys.argv[1:7]
SPEC = pathlib.Path(SPEC) / "openapi"
EXPECTED = json.loads(EXPECTED)
BASE = f"http://127.0.0.1:{PORT}/rest"
NS = "{http://subsonic.org/restapi}"
failures = []
checked = {"json": 0, "xml": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def raw(method, params, auth=None, fmt="json", post=False, view=True):
    q = dict(auth if auth is not None else {"u": USER, "p": PASSWORD})
    q.update({"v": "1.16.1", "c": "avalon-test"})
    if fmt:
        q["f"] = fmt
    q.update(params)
    url = f"{BASE}/{method}{'.view' if view else ''}"
    data = urllib.parse.urlencode(q).encode()
    if post:
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        req = urllib.request.Request(url + "?" + data.decode())
    with urllib.request.urlopen(req, timeout=30) as r:
        check(r.status == 200, f"{method}: HTTP {r.status}")
        return r.read()


def validated(method, params=None, auth=None, post=False, expect_error=None, compare=True):
    """The JSON answer, validated against the method's schema; and the XML
    answer of the same request, compared with it."""
    params = params or {}
    body = json.loads(raw(method, params, auth, "json", post))
    checked["json"] += 1
    try:
        schemas.validate(SPEC, method, body)
    except jsonschema.ValidationError as e:
        check(False, f"{method} {params}: schema: {e.message} at {list(e.absolute_path)}")
    r = body["subsonic-response"]
    check(r["version"] == "1.16.1" and r["type"] == "avalon" and r["openSubsonic"] is True, f"{method}: envelope {r}")
    if expect_error is not None:
        check(r["status"] == "failed" and r["error"]["code"] == expect_error,
              f"{method} {params}: expected error {expect_error}, got {r}")
    else:
        check(r["status"] == "ok", f"{method} {params}: {r.get('error')}")
    x = ET.fromstring(raw(method, params, auth, None, post))
    checked["xml"] += 1
    check(x.tag == NS + "subsonic-response" and x.get("status") == r["status"], f"{method}: XML envelope {x.attrib}")
    if expect_error is not None:
        e = x.find(NS + "error")
        check(e is not None and int(e.get("code")) == expect_error, f"{method}: XML error {ET.tostring(x)[:200]}")
    elif compare:  # random answers differ from one request to the next
        same(method, r, x)
    return r


def same(method, j, x):
    """Every id and name in the JSON answer is in the XML one, in order."""
    def ids_json(o, out):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("id", "name", "title", "value") and isinstance(v, (str, int)):
                    out.append(str(v))
                else:
                    ids_json(v, out)
        elif isinstance(o, list):
            for v in o:
                ids_json(v, out)
        return out

    def ids_xml(e, out):
        for k in ("id", "name", "title"):
            if e.get(k) is not None:
                out.append(e.get(k))
        if e.text and e.text.strip() and not list(e) and e.tag in (NS + "genre",):
            out.append(e.text)
        for c in e:
            ids_xml(c, out)
        return out

    a = sorted(ids_json({k: v for k, v in j.items() if k not in ("status", "version", "type", "serverVersion")}, []))
    b = sorted(ids_xml(x, []))
    check(a == b, f"{method}: JSON and XML differ: {a[:10]} / {b[:10]}")


# --- raw requests: every method, both formats, each sign-in ---------------------
token_salt = "c0ffee42"
token = hashlib.md5((PASSWORD + token_salt).encode()).hexdigest()
ways = {
    "plain": {"u": USER, "p": PASSWORD},
    "enc": {"u": USER, "p": "enc:" + PASSWORD.encode().hex()},
    "token": {"u": USER, "t": token, "s": token_salt},
    "apiKey": {"apiKey": API_KEY},
}
for name, auth in ways.items():
    validated("ping", auth=auth)
    validated("ping", auth=auth, post=True)
validated("ping", auth={"u": USER, "p": "wrong"}, expect_error=40)
validated("ping", auth={"u": "nobody", "p": PASSWORD}, expect_error=40)
validated("ping", auth={"u": USER, "t": "0" * 32, "s": token_salt}, expect_error=40)
validated("ping", auth={"apiKey": "not-a-key"}, expect_error=44)
validated("ping", auth={"apiKey": API_KEY, "u": USER}, expect_error=43)
validated("ping", auth={"u": USER}, expect_error=10)
validated("getLicense")
exts = validated("getOpenSubsonicExtensions")["openSubsonicExtensions"]
check({e["name"] for e in exts} == {"formPost", "apiKeyAuthentication"}, f"extensions {exts}")
validated("getMusicFolders")
validated("getScanStatus")
validated("getUser", {"username": USER})
validated("getUser", {"username": "somebody-else"}, expect_error=50)
validated("getStarred")
validated("getStarred2")
validated("getPlaylists")

artists = validated("getArtists")["artists"]
names = [a["name"] for i in artists["index"] for a in i.get("artist", [])]
check(sorted(names) == sorted(EXPECTED["artists"]), f"artists {names}")
check(artists["ignoredArticles"] == "The El La Los Las Le Les", "ignoredArticles")
indexes = validated("getIndexes")["indexes"]
check(sorted(a["name"] for i in indexes["index"] for a in i["artist"]) == sorted(EXPECTED["artists"]), "indexes")

song_ids = []
for index in artists["index"]:
    for a in index["artist"]:
        artist = validated("getArtist", {"id": a["id"]})["artist"]
        check(artist["albumCount"] == len(artist.get("album", [])), f"albumCount of {a['name']}")
        d = validated("getMusicDirectory", {"id": a["id"]})["directory"]
        check(len(d.get("child", [])) == artist["albumCount"], "artist directory")
        for al in artist.get("album", []):
            album = validated("getAlbum", {"id": al["id"]})["album"]
            check(album["songCount"] == len(album["song"]), "songCount")
            check(album["duration"] == sum(s["duration"] for s in album["song"]), "album duration")
            validated("getMusicDirectory", {"id": al["id"]})
            for s in album["song"]:
                check(s["albumId"] == al["id"] and s["parent"] == al["id"], "song album id")
                song_ids.append(s["id"])
                got = validated("getSong", {"id": s["id"]})["song"]
                check(got == s, f"getSong {got} / {s}")
check(sorted(set(song_ids)) == sorted(EXPECTED["songs"]), f"every song reached by browsing: {len(set(song_ids))}")

genres = validated("getGenres")["genres"]["genre"]
check(sorted((g["value"], g["songCount"]) for g in genres) == sorted(map(tuple, EXPECTED["genres"])), f"genres {genres}")
for g in genres:
    r = validated("getSongsByGenre", {"genre": g["value"], "count": 500})["songsByGenre"]
    check(len(r.get("song", [])) == g["songCount"], f"songsByGenre {g}")
    validated("getAlbumList", {"type": "byGenre", "genre": g["value"]})

for t in ["random", "newest", "alphabeticalByName", "alphabeticalByArtist", "frequent", "recent", "starred", "highest"]:
    validated("getAlbumList", {"type": t, "size": 500}, compare=t != "random")
    l2 = validated("getAlbumList2", {"type": t, "size": 500}, compare=t != "random")["albumList2"]
    if t in ("random", "newest", "alphabeticalByName", "alphabeticalByArtist"):
        check(len(l2["album"]) == len(EXPECTED["albums"]), f"getAlbumList2 {t}")
    else:
        check(not l2.get("album"), f"getAlbumList2 {t} should be empty")
by_year = validated("getAlbumList2", {"type": "byYear", "fromYear": 1990, "toYear": 1991})["albumList2"]
check(all(1990 <= a["year"] <= 1991 for a in by_year.get("album", [])) and by_year.get("album"), f"byYear {by_year}")
validated("getAlbumList2", {"type": "byYear"}, expect_error=10)
validated("getAlbumList2", {}, expect_error=10)
names = [a["name"] for a in validated("getAlbumList2", {"type": "alphabeticalByName", "size": 500})["albumList2"]["album"]]
check(names == sorted(names, key=lambda s: s.encode()), f"alphabeticalByName {names}")
r = validated("getRandomSongs", {"size": 3}, compare=False)["randomSongs"]
check(len(r["song"]) == min(3, len(EXPECTED["songs"])), "getRandomSongs size")
r = validated("getRandomSongs", {"size": 50, "fromYear": 1991, "toYear": 1992}, compare=False)["randomSongs"]
check(r.get("song") and all(1991 <= s["year"] <= 1992 for s in r["song"]), "getRandomSongs years")

for m in ["search2", "search3"]:
    everything = validated(m, {"query": "", "songCount": 500, "albumCount": 500, "artistCount": 500})
    res = everything["searchResult3" if m == "search3" else "searchResult2"]
    check(sorted(s["id"] for s in res["song"]) == sorted(EXPECTED["songs"]), f"{m} empty query syncs every song")
    page = validated(m, {"query": '""', "songCount": 2, "songOffset": 2, "artistCount": 0, "albumCount": 0})
    res2 = page["searchResult3" if m == "search3" else "searchResult2"]
    check([s["id"] for s in res2["song"]] == [s["id"] for s in res["song"]][2:4], f"{m} paging")
    found = validated(m, {"query": EXPECTED["search"]})["searchResult3" if m == "search3" else "searchResult2"]
    check(any(s["title"] == EXPECTED["searchTitle"] for s in found.get("song", [])), f"{m} finds {EXPECTED['search']}: {found}")

# Errors: missing parameter, unknown id, unknown method, writes.
validated("getAlbum", {}, expect_error=10)
validated("getAlbum", {"id": "00000000-0000-0000-0000-000000000000"}, expect_error=70)
validated("getAlbum", {"id": "../../etc/passwd"}, expect_error=70)
validated("getSong", {"id": EXPECTED["albums"][0]}, expect_error=70)
validated("getMusicDirectory", {"id": "nope"}, expect_error=70)
for w in ["star", "unstar", "setRating", "scrobble", "createPlaylist", "deletePlaylist", "savePlayQueue", "createBookmark"]:
    validated(w, {"id": EXPECTED["songs"][0]}, expect_error=50)
body = json.loads(raw("noSuchMethod", {}))["subsonic-response"]
check(body["status"] == "failed" and body["error"]["code"] == 0, f"unknown method {body}")
jsonp = raw("ping", {"callback": "cb_1"}, fmt="jsonp").decode()
check(jsonp.startswith("cb_1(") and jsonp.endswith(");") and json.loads(jsonp[5:-2])["subsonic-response"]["status"] == "ok", jsonp)
bad = json.loads(raw("ping", {"callback": "alert(1)//"}, fmt="jsonp"))["subsonic-response"]
check(bad["status"] == "failed" and bad["error"]["code"] == 10, f"bad callback {bad}")
check(raw("ping", {}, view=False) == raw("ping", {}), "ping and ping.view answer alike")
# A form over 64 KB is refused whole (its parameters unread: the format comes from the URL).
req = urllib.request.Request(f"{BASE}/ping.view?f=json", data=urllib.parse.urlencode({"u": USER, "p": PASSWORD, "v": "1.16.1", "c": "t", "pad": "x" * 70000}).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
with urllib.request.urlopen(req, timeout=30) as r:
    check(r.status == 200, "a form over 64 KB: HTTP 200")
    big = json.loads(r.read())["subsonic-response"]
check(big["status"] == "failed" and big["error"]["code"] == 0 and "64" in big["error"]["message"], f"a form over 64 KB: {big}")
form = json.loads(raw("getAlbum", {"id": EXPECTED["albums"][0]}, post=True))["subsonic-response"]
check(form["status"] == "ok" and form["album"]["id"] == EXPECTED["albums"][0], "a form body's parameters")

# --- py-sonic (libsonic): token sign-in, then legacy enc: ---------------------------
for legacy in (False, True):
    conn = libsonic.Connection(f"http://127.0.0.1", USER, PASSWORD, port=int(PORT), serverPath="/rest",
                               appName="avalon-test", legacyAuth=legacy)
    check(conn.ping(), f"libsonic ping (legacy {legacy})")
    arts = conn.getArtists()["artists"]["index"]
    seen = []
    for i in arts:
        for a in i["artist"]:
            for al in conn.getArtist(a["id"])["artist"]["album"]:
                seen += [s["id"] for s in conn.getAlbum(al["id"])["album"]["song"]]
    check(sorted(seen) == sorted(EXPECTED["songs"]), "libsonic browse")
    check(conn.search3(EXPECTED["search"])["searchResult3"].get("song"), "libsonic search3")
    check(len(conn.getRandomSongs(size=2)["randomSongs"]["song"]) == 2, "libsonic random")
    check(conn.getAlbumList2("newest")["albumList2"]["album"], "libsonic newest")
    check(len(conn.getGenres()["genres"]["genre"]) == len(EXPECTED["genres"]), "libsonic genres")
    try:
        conn.star(sids=[EXPECTED["songs"][0]])
        check(False, "libsonic star should fail")
    except libsonic.errors.SonicError as e:
        check("50" in type(e).__name__ or getattr(e, "code", None) == 50 or "authorized" in str(e).lower(), f"libsonic star: {e!r}")

# --- py-opensonic (libopensonic): API key, then password ----------------------------
for kw in ({"api_key": API_KEY}, {"username": USER, "password": PASSWORD}):
    conn = libopensonic.Connection("http://127.0.0.1", port=int(PORT), server_path="", app_name="avalon-test", **kw)
    check(conn.ping(), f"libopensonic ping {list(kw)}")
    check({e.name for e in conn.get_open_subsonic_extensions()} == {"formPost", "apiKeyAuthentication"}, "libopensonic extensions")
    seen = []
    for i in conn.get_artists().index:
        for a in i.artist:
            for al in conn.get_artist(a.id).album:
                album = conn.get_album(al.id)
                seen += [s.id for s in album.song]
                check(conn.get_music_directory(al.id).child, "libopensonic directory")
    check(sorted(seen) == sorted(EXPECTED["songs"]), "libopensonic browse")
    found = conn.search3(EXPECTED["search"])
    check(found.song and any(s.title == EXPECTED["searchTitle"] for s in found.song), "libopensonic search3")
    check(len(conn.get_random_songs(size=2)) == 2, "libopensonic random")
    check(len(conn.get_album_list2("newest", size=500)) == len(EXPECTED["albums"]), "libopensonic newest")
    check(len(conn.get_genres()) == len(EXPECTED["genres"]), "libopensonic genres")
    check(conn.get_song(EXPECTED["songs"][0]).id == EXPECTED["songs"][0], "libopensonic getSong")
    conn.close() if hasattr(conn, "close") else None

print(f"checked {checked['json']} JSON answers against the schemas and {checked['xml']} XML answers")
if failures:
    print(f"{len(failures)} failures", file=sys.stderr)
    sys.exit(1)
print("ok")
