"""What the client scripts beside this file share: their arguments
(PORT SPEC_DIR USER PASSWORD JSON), failures collected, and the exit."""
import json
import pathlib
import sys

failures = []


def arguments():
    """(port, the spec's openapi/ folder, user, password, the JSON argument parsed)."""
    port, spec, user, password, data = sys.argv[1:6]
    return port, pathlib.Path(spec) / "openapi", user, password, json.loads(data)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def finish(summary):
    print(summary)
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        sys.exit(1)
