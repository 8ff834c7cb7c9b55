#!/usr/bin/env bash
# LLaVA-Med and Med-Flamingo on a GPU (issue 15's device check), run from the repository root on the device
# machine: their tiny published-layout checkpoints through our loaders and the suite, on the GPU in the
# default dtype there (fp16 for LLaVA-Med as its authors ran it, bf16 for Med-Flamingo) and in fp32.
# Needs the wheels the machine lacks in .whl/ (pydantic and this package; see docs/performance.md).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions.txt"
status=0
python3 -m pytest tests/acceptance/test_llava_med.py tests/acceptance/test_med_flamingo.py -q -p no:cacheprovider -p no:randomly 2>&1 | tee "$OUT/tiny-default.log" || status=1
MEDICONFUSION_TEST_DTYPE=fp32 python3 -m pytest tests/acceptance/test_llava_med.py tests/acceptance/test_med_flamingo.py -q -p no:cacheprovider -p no:randomly 2>&1 | tee "$OUT/tiny-fp32.log" || status=1
exit $status
