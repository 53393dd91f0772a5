#!/usr/bin/env bash
# Create (or refresh) the project's Python 3.12 environment in .venv from the lock file.
# Idempotent: a second run with an unchanged lock file only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements/py312.lock
VENV=${NA_FLOWS_VENV:-.venv}

find_python312() {
    # 1. explicit choice, 2. on PATH, 3. pyenv, 4. the usual install prefixes
    local candidates=()
    [[ -n "${PYTHON312:-}" ]] && candidates+=("$PYTHON312")
    candidates+=(python3.12)
    if command -v pyenv >/dev/null 2>&1; then
        local prefix
        prefix=$(pyenv prefix 3.12 2>/dev/null || true)
        [[ -z "$prefix" ]] && prefix=$(pyenv root 2>/dev/null)/versions/$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | tail -n1)
        candidates+=("$prefix/bin/python3.12")
    fi
    candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/python*/bin/python3.12)
    local c
    for c in "${candidates[@]}"; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
    if ! PY=$(find_python312); then
        cat >&2 <<'MSG'
error: no Python 3.12 interpreter found (na_lattice_flows needs 3.12: recent atomate2 and torch-sim require it).
Looked at $PYTHON312, python3.12 on PATH, `pyenv prefix 3.12`, ~/.pyenv/versions/3.12*, /usr/local/bin, /usr/bin.
Install one, for example:  pyenv install 3.12   (or: apt-get install python3.12 python3.12-venv)
or point to it:            PYTHON312=/path/to/python3.12 make demo
MSG
        exit 1
    fi
    echo "Creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

# Headless Chromium renders the HTML report in the tests (they skip, saying why, without it).
if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing chromium (headless rendering of the report in the tests)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || echo "warning: chromium not installed; the report-rendering tests will skip" >&2
fi

STAMP="$VENV/.na_flows_lock.sha256"
WANT=$(cat "$LOCK" requirements/gpaw.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    exit 0
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip uv
echo "Installing the locked environment ($LOCK) into $VENV (first time: a few GB, torch with CUDA libraries)..."
"$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" --quiet -r "$LOCK"
"$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" --quiet --no-deps -e .

# GPAW (the local DFT engine) compiles against libxc, OpenBLAS and FFTW. Installed when those libraries are
# present or can be installed here (as root with apt-get); otherwise skipped with a message, and the tests that
# need it skip with that reason. NA_FLOWS_SKIP_GPAW=1 skips it on purpose.
GPAW_LIBS=(libxc-dev libopenblas-dev libfftw3-dev)
if [[ -z "${NA_FLOWS_SKIP_GPAW:-}" ]]; then
    if ! dpkg -s "${GPAW_LIBS[@]}" >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "Installing GPAW's build libraries (${GPAW_LIBS[*]})..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${GPAW_LIBS[@]}" >/dev/null
    fi
    if dpkg -s "${GPAW_LIBS[@]}" >/dev/null 2>&1; then
        echo "Building GPAW ($(cat requirements/gpaw.txt | tr '\n' ' '))..."
        CC=g++ "$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" --quiet -c "$LOCK" -r requirements/gpaw.txt
    else
        echo "warning: GPAW not installed (needs ${GPAW_LIBS[*]}: apt-get install them, then rerun this script)" >&2
    fi
fi
echo "$WANT" > "$STAMP"
echo "Environment ready: $VENV ($(du -sh "$VENV" | cut -f1))"
