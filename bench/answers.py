"""Compares the answers of two servers (bench/answers.sh): python3 answers.py OLD_PORT NEW_PORT.
Exits 1 when any answer differs (status, content type or body), printing the first ten."""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

pa, pb = sys.argv[1], sys.argv[2]
auth = "u=bench&p=bench-pass&v=1.16.1&c=bench"


def norm(b):
    # The load time, which differs between the two servers.
    return re.sub(rb'(lastModified\W+)\d+', rb'\1LOADTIME', b)


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
            return r.status, r.headers.get("Content-Type"), norm(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), norm(e.read())
def rest(m, q=""):
    return f"/rest/{m}?{auth}" + (("&" + q) if q else "")
albums = json.loads(get(pa, "/rest/getAlbumList2?" + auth + "&f=json&type=alphabeticalByName&size=500")[2])["subsonic-response"]["albumList2"]["album"]
artists = [a for i in json.loads(get(pa, rest("getArtists", "f=json"))[2])["subsonic-response"]["artists"]["index"] for a in i["artist"]]
paths = []
for m in ["ping", "getLicense", "getOpenSubsonicExtensions", "getMusicFolders", "getIndexes", "getArtists", "getGenres",
          "getScanStatus", "getStarred", "getStarred2", "getPlaylists", "getUser&username=bench", "getUser&username=x", "getAlbum",
          "getAlbum&id=nope", "getSong&id=00000000-0000-0000-0000-000000000000", "star", "nosuch", "getAlbumList2&type=bogus"]:
    m, _, q = m.partition("&")
    paths.append((m, q))
for t in ["alphabeticalByName", "alphabeticalByArtist", "newest", "recent", "frequent", "starred", "highest", "byYear&fromYear=1990&toYear=2000", "byYear&fromYear=2010&toYear=1980", "byGenre&genre=Rock"]:
    paths.append(("getAlbumList2", f"type={t}&size=100&offset=3"))
    paths.append(("getAlbumList", f"type={t}&size=100"))
for q in ["love", "a", "zz", "the"]:
    paths.append(("search3", f"query={q}&songCount=50&albumCount=20&artistCount=20"))
    paths.append(("search2", f"query={q}"))
paths.append(("search3", "query=&songCount=500"))
for a in albums[:60]:
    paths.append(("getAlbum", f"id={a['id']}"))
    paths.append(("getMusicDirectory", f"id={a['id']}"))
for a in artists[:30]:
    paths.append(("getArtist", f"id={a['id']}"))
    paths.append(("getMusicDirectory", f"id={a['id']}"))
songs = json.loads(get(pa, rest("search3", "f=json&query=&songCount=200"))[2])["subsonic-response"]["searchResult3"].get("song", [])
for s in songs[:100]:
    paths.append(("getSong", f"id={s['id']}"))
genres = json.loads(get(pa, rest("getGenres", "f=json"))[2])["subsonic-response"]["genres"].get("genre", [])
for g in genres[:10]:
    paths.append(("getSongsByGenre", "genre=" + urllib.parse.quote(g["value"]) + "&count=100"))
n = same = 0
bad = []
for m, q in paths:
    for f in ["", "f=json", "f=xml", "f=jsonp&callback=cb"]:
        qq = "&".join(x for x in [q, f] if x)
        for view in ["", ".view"]:
            p = rest(m + view, qq)
            a, b = get(pa, p), get(pb, p)
            n += 1
            if a == b: same += 1
            else: bad.append(p)
for p in ["/avalon/heartbeat", "/avalon/songs?query=love&limit=50", "/avalon/albums?order=name&limit=100", "/avalon/songs?query=l%C3%B6ve+x&limit=5", "/avalon/songs?order=name&limit=20&offset=1000&direction=desc"]:
    a, b = get(pa, p), get(pb, p)
    n += 1
    if a == b: same += 1
    else: bad.append(p)
songs_with_created = sum(1 for s in songs if "created" in s)
print(f"{same} of {n} answers identical; songs with created: {songs_with_created} of {len(songs)}")
for p in bad[:10]:
    print("DIFFERENT:", p)
    print(" old:", get(pa, p)[2][:400])
    print(" new:", get(pb, p)[2][:400])
sys.exit(1 if bad else 0)
