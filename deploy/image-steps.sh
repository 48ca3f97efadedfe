#!/bin/sh
# The container image's install steps, in one script: the Dockerfile runs it, and so does a test
# (tests/ops/test_image.py) in a temporary virtual environment, so the steps are known to work
# without a Docker engine.
#
#   image-steps.sh build SRC WHEELS      callgate's wheel from the source tree SRC into WHEELS, then the
#                                        wheels of its dependencies (skipped with CALLGATE_IMAGE_OFFLINE=1:
#                                        the test has no index to download them from)
#   image-steps.sh install WHEELS PREFIX a virtual environment at PREFIX with callgate installed from
#                                        WHEELS alone (no index: what is installed is what was built)
#   image-steps.sh check PREFIX CONFIG   the installed callgate loads and checks the configuration in CONFIG
set -eu

PYTHON=${PYTHON:-python3}

build() {
    src=$1 wheels=$2
    mkdir -p "$wheels"
    if [ "${CALLGATE_IMAGE_OFFLINE:-0}" = 1 ]; then
        # The running environment's setuptools builds it: nothing to download.
        "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$wheels" "$src"
        return
    fi
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$src"
    # Binary wheels only: the build stage needs no compiler, and neither does the final one.
    "$PYTHON" -m pip wheel --quiet --only-binary=:all: --wheel-dir "$wheels" "$wheels"/callgate-*.whl
}

install() {
    wheels=$1 prefix=$2
    # No pip inside: the final image cannot install anything more at run time.
    "$PYTHON" -m venv --without-pip "$prefix"
    "$PYTHON" -m pip --python "$prefix/bin/python" install --quiet --no-index --find-links "$wheels" callgate
}

check() {
    prefix=$1 config=$2
    "$prefix/bin/callgate" --help >/dev/null
    "$prefix/bin/callgate" policy check --config-dir "$config"
}

usage() {
    echo "usage: $0 build SRC WHEELS | install WHEELS PREFIX | check PREFIX CONFIG" >&2
    exit 64
}

[ $# -eq 3 ] || usage
case "$1" in
    build | install | check) "$@" ;;
    *) usage ;;
esac
