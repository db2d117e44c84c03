#!/usr/bin/env bash
# Install what the tests need and run the whole suite. Tests that need nginx
# or PostgreSQL start their own on loopback and clean up.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/packages.sh
avalon_require_swift
avalon_apt_install $AVALON_BUILD_PACKAGES $AVALON_RUN_PACKAGES $AVALON_TEST_PACKAGES
# Debian starts the packaged clusters where it can; the tests use their own.
# The answer writer's bounds where only its own checks stand: a release build.
swift build -c release --product avalon-bench >/dev/null
"$(swift build -c release --show-bin-path)/avalon-bench" check-render
swift build --build-tests
# Two Subsonic client libraries and a schema validator for SubsonicTests.
python3 -m venv .build/venv-subsonic
.build/venv-subsonic/bin/pip install -q py-sonic py-opensonic jsonschema
swift test --skip-build
