#!/usr/bin/env bash
# Install mediconfusion-tests and the torch build this machine needs.
#
#   bash scripts/install.sh          everything, editable: running models plus our tests' tools (dev extra)
#   bash scripts/install.sh --user   what running models needs (hf, fetch and allure extras), no dev tools
#
#   no NVIDIA GPU: torch's CPU wheel, from download.pytorch.org/whl/cpu when that index is reachable,
#                  otherwise plain `pip install torch==X` (machines that carry the CPU wheel locally)
#   NVIDIA GPU:    torch from PyPI, which is the CUDA build
#
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0),
#              TORCH_INDEX_URL (force a PyTorch index, e.g. https://download.pytorch.org/whl/cu128).
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=dev
EDITABLE=-e
case "${1:-}" in
  --user) EXTRAS=hf,fetch,allure,api,pairs; EDITABLE= ;;
  "") ;;
  *) echo "usage: bash scripts/install.sh [--user]" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu

reachable() {
  "$PYTHON" -c "import socket, sys; socket.create_connection((sys.argv[1], 443), timeout=5).close()" "$1" 2>/dev/null
}

if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "install.sh: keeping the installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
elif [ -n "${TORCH_INDEX_URL:-}" ]; then
  "$PYTHON" -m pip install "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "install.sh: NVIDIA GPU found; installing the CUDA build of $TORCH_SPEC from PyPI"
  "$PYTHON" -m pip install "$TORCH_SPEC"
elif reachable download.pytorch.org; then
  echo "install.sh: no GPU; installing the CPU build of $TORCH_SPEC"
  "$PYTHON" -m pip install "$TORCH_SPEC" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple
else
  echo "install.sh: no GPU and no PyTorch index; installing $TORCH_SPEC from the configured indexes"
  "$PYTHON" -m pip install "$TORCH_SPEC"
fi

# shellcheck disable=SC2086  # EDITABLE is empty or one flag
"$PYTHON" -m pip install $EDITABLE ".[$EXTRAS]"
