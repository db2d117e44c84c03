"""Streams and downloads through nginx, as two Subsonic client libraries fetch them.

Run by SubsonicStreamTests.testClientStreams with the venv deploy/test.sh makes:
    streams.py PORT SPEC_DIR USER PASSWORD SONGS_JSON

SONGS_JSON: [{"id", "file" (absolute), "path" (relative), "contentType"}] of
the scanned songs. For each: getSong's JSON validates against the OpenAPI
schema and carries the file's facts; py-sonic (libsonic) streams and
downloads it, py-opensonic (libopensonic) streams it whole and by a Range;
every byte is compared with the file on disk.
"""
import asyncio
import json
import os
import pathlib
import urllib.parse
import urllib.request

import libopensonic
import libsonic

import schemas
from harness import arguments as harness_arguments, check, finish

PORT, SPEC, USER, PASSWORD, SONGS = harness_arguments()


def get_song(sid):
    q = urllib.parse.urlencode({"u": USER, "p": PASSWORD, "v": "1.16.1", "c": "avalon-test", "f": "json", "id": sid})
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/rest/getSong.view?{q}", timeout=30) as r:
        body = json.loads(r.read())
    try:
        schemas.validate(SPEC, "getSong", body)
    except Exception as e:  # jsonschema.ValidationError
        check(False, f"getSong {sid}: schema: {e}")
    return body["subsonic-response"]["song"]


for s in SONGS:
    data = pathlib.Path(s["file"]).read_bytes()
    song = get_song(s["id"])
    for k, v in {"size": len(data), "path": s["path"], "contentType": s["contentType"],
                 "suffix": s["path"].rsplit(".", 1)[-1].lower()}.items():
        check(song.get(k) == v, f"getSong {s['path']}: {k} {song.get(k)!r}, expected {v!r}")
    check("created" in song and song.get("bitRate", 0) >= 0, f"getSong {s['path']}: created, bitRate {song}")

# --- py-sonic: stream and download, token sign-in ---------------------------------
conn = libsonic.Connection("http://127.0.0.1", USER, PASSWORD, port=int(PORT), serverPath="/rest", appName="avalon-test")
for s in SONGS:
    data = pathlib.Path(s["file"]).read_bytes()
    r = conn.stream(s["id"])
    check(r.status == 200 and r.headers.get("Content-Type") == s["contentType"], f"libsonic stream {s['path']}: {r.status} {r.headers}")
    check(r.read() == data, f"libsonic stream {s['path']}: the file's bytes")
    r = conn.download(s["id"])
    disposition = r.headers.get("Content-Disposition", "")
    name = urllib.parse.quote(os.path.basename(s["path"]), safe="")
    check(disposition.startswith("attachment;") and f"filename*=UTF-8''{name}" in disposition,
          f"libsonic download {s['path']}: {disposition!r}")
    check(r.read() == data, f"libsonic download {s['path']}: the file's bytes")


# --- py-opensonic: stream whole and by a Range, API of its async connection --------
async def opensonic():
    conn = libopensonic.AsyncConnection("http://127.0.0.1", USER, PASSWORD, port=int(PORT), server_path="", app_name="avalon-test")
    for s in SONGS:
        data = pathlib.Path(s["file"]).read_bytes()
        r = await conn.stream(s["id"], tformat="raw")
        check(r.status == 200 and await r.read() == data, f"libopensonic stream {s['path']}")
        lo, hi = len(data) // 3, len(data) // 3 + 99
        r = await conn.stream(s["id"], byte_range=f"bytes={lo}-{hi}")
        body = await r.read()
        check(r.status == 206 and body == data[lo:hi + 1], f"libopensonic range {s['path']}: {r.status}, {len(body)} bytes")
        check(r.headers.get("Content-Range") == f"bytes {lo}-{hi}/{len(data)}", f"libopensonic range header {r.headers}")
    if conn._sess is not None:  # the library leaves its session open
        await conn._sess.close()

asyncio.run(opensonic())

finish(f"{len(SONGS)} songs streamed and downloaded by two clients")
