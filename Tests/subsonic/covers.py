"""Covers through nginx, as two Subsonic client libraries fetch them.

Run by SubsonicCoverTests.testClientCovers with the venv deploy/test.sh makes:
    covers.py PORT SPEC_DIR USER PASSWORD PICTURES_JSON

PICTURES_JSON: [{"album", "artist" (ids), "file" (the source picture)}]. The
answers that carry coverArt validate against the OpenAPI schemas and carry
it on albums, songs and artists; py-sonic (libsonic) and py-opensonic
(libopensonic) fetch each cover by its coverArt id and by the album's id;
every byte is compared with the source picture.
"""
import asyncio
import json
import pathlib
import urllib.parse
import urllib.request

import libopensonic
import libsonic

import schemas
from harness import arguments as harness_arguments, check, finish

PORT, SPEC, USER, PASSWORD, PICTURES = harness_arguments()


def call(method, **params):
    q = urllib.parse.urlencode({"u": USER, "p": PASSWORD, "v": "1.16.1", "c": "avalon-test", "f": "json", **params})
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/rest/{method}.view?{q}", timeout=30) as r:
        body = json.loads(r.read())
    try:
        schemas.validate(SPEC, method, body)
    except Exception as e:  # jsonschema.ValidationError
        check(False, f"{method} {params}: schema: {e}")
    return body["subsonic-response"]


covers = {}
for p in PICTURES:
    album = call("getAlbum", id=p["album"])["album"]
    covers[p["album"]] = album.get("coverArt")
    check(album.get("coverArt", "").startswith("ca-"), f"getAlbum {p['album']}: coverArt {album.get('coverArt')!r}")
    for s in album["song"]:
        check(s.get("coverArt") == album["coverArt"], f"getAlbum song {s['id']}: coverArt {s.get('coverArt')!r}")
        check(call("getSong", id=s["id"])["song"].get("coverArt") == album["coverArt"], f"getSong {s['id']}: coverArt")
    artist = call("getArtist", id=p["artist"])["artist"]
    check(artist.get("coverArt") == album["coverArt"], f"getArtist {p['artist']}: coverArt {artist.get('coverArt')!r}")
    directory = call("getMusicDirectory", id=p["album"])["directory"]
    check(all(c.get("coverArt") == album["coverArt"] for c in directory["child"]), f"getMusicDirectory {p['album']}: coverArt")
    call("getMusicDirectory", id=p["artist"])

found = set(covers.values())
for method, params, path in [("getAlbumList2", {"type": "alphabeticalByName"}, ("albumList2", "album")),
                             ("getAlbumList", {"type": "alphabeticalByName"}, ("albumList", "album")),
                             ("search3", {"query": ""}, ("searchResult3", "album")),
                             ("search2", {"query": ""}, ("searchResult2", "album")),
                             ("getRandomSongs", {"size": 50}, ("randomSongs", "song"))]:
    items = call(method, **params)[path[0]].get(path[1], [])
    check(found <= {i.get("coverArt") for i in items}, f"{method}: the covers {found} among {[i.get('coverArt') for i in items]}")
artists = [a for i in call("getArtists")["artists"]["index"] for a in i["artist"]]
check(found <= {a.get("coverArt") for a in artists}, f"getArtists: covers {[a.get('coverArt') for a in artists]}")
call("search3", query="", artistCount=10)
call("getStarred2")

# --- py-sonic: by coverArt id and by album id, with a size (originals served) ---
conn = libsonic.Connection("http://127.0.0.1", USER, PASSWORD, port=int(PORT), serverPath="/rest", appName="avalon-test")
for p in PICTURES:
    data = pathlib.Path(p["file"]).read_bytes()
    for aid in (covers[p["album"]], p["album"]):
        r = conn.getCoverArt(aid, size=300)
        check(r.status == 200 and r.read() == data, f"libsonic getCoverArt {aid}: the picture's bytes")


# --- py-opensonic ---------------------------------------------------------------
async def opensonic():
    conn = libopensonic.AsyncConnection("http://127.0.0.1", USER, PASSWORD, port=int(PORT), server_path="", app_name="avalon-test")
    for p in PICTURES:
        data = pathlib.Path(p["file"]).read_bytes()
        for aid in (covers[p["album"]], p["artist"]):
            r = await conn.get_cover_art(aid)
            check(r.status == 200 and await r.read() == data, f"libopensonic get_cover_art {aid}: the picture's bytes")
    if conn._sess is not None:  # the library leaves its session open
        await conn._sess.close()

asyncio.run(opensonic())

finish(f"{len(PICTURES)} covers fetched by two clients")
