#!/usr/bin/env bash
# RadFM on a GPU (issue 12's device check), run from the repository root on the device machine:
#   1. the tiny-checkpoint tests on the GPU, bf16 (the default there) and fp32;
#   2. a forward of the full-size architecture with random weights at batch 1/8/32 (docs/performance.md).
# Needs the wheels the machine lacks in .whl/ (pydantic and this package; see docs/performance.md).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -c "import torch, transformers, sentencepiece; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions.txt"
status=0
python3 -m pytest tests/acceptance/test_radfm.py -q -p no:cacheprovider -p no:randomly 2>&1 | tee "$OUT/tiny-bf16.log" || status=1
MEDICONFUSION_TEST_DTYPE=fp32 python3 -m pytest tests/acceptance/test_radfm.py -q -p no:cacheprovider -p no:randomly 2>&1 | tee "$OUT/tiny-fp32.log" || status=1
python3 benchmarks/radfm_forward.py --json "$OUT/radfm-forward.json" 2>&1 | tee "$OUT/forward.log" || status=1
exit $status
