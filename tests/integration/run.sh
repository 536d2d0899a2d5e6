#!/usr/bin/env bash
# Runs the black-box integration tests against the broker binary in $RUNNELD
# (an absolute path; `make integration` sets it). Extra arguments go to pytest,
# e.g.  RUNNELD=$PWD/build/runneld tests/integration/run.sh -k longpoll
#
# Bounded: the whole run is killed after RUNNEL_IT_TIMEOUT (default 20m);
# each test has a 60 s limit (pytest.ini, pytest-timeout).
set -euo pipefail

cd "$(dirname "$0")/../.."

if [ -z "${RUNNELD:-}" ]; then
    echo "run.sh: RUNNELD is not set; it must be the absolute path of the runneld binary" >&2
    echo "run.sh: use 'make integration', or RUNNELD=\$PWD/build/runneld tests/integration/run.sh" >&2
    exit 2
fi
case "$RUNNELD" in
    /*) ;;
    *) echo "run.sh: RUNNELD=$RUNNELD is not an absolute path" >&2; exit 2 ;;
esac
if [ ! -x "$RUNNELD" ]; then
    echo "run.sh: RUNNELD=$RUNNELD is not an executable file (build it first: make)" >&2
    exit 2
fi
export RUNNELD

# An ASan/UBSan build (make SAN=1) is detected from its symbols, so that the
# tests turn on leak detection and fail on any sanitizer report.
if [ -z "${RUNNEL_SAN:-}" ] && grep -q -a __asan_init "$RUNNELD"; then
    export RUNNEL_SAN=1
fi

# A failed test is run once more before it counts (pytest-rerunfailures):
# these are timing-sensitive tests of real processes on small shared
# machines. A rerun shows as "R" in the progress line and in the summary,
# so intermittent failures stay visible; a test that fails twice fails.
exec timeout --kill-after=30s "${RUNNEL_IT_TIMEOUT:-40m}" \
    /usr/bin/python3 -m pytest -q -x -p no:cacheprovider --reruns 1 -r R tests/integration "$@"
