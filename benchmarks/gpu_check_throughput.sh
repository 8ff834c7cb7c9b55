#!/usr/bin/env bash
# Issue 29's device check: LLaVA-NeXT-7B (random weights, bf16) on the real pairs through the suite's engine,
# greedy and prefix, batch 1 and auto, without and with the preprocessing pool (the host's cores less one, at
# most 8: what --preprocess-workers=auto gives one xdist worker there), beside the original harness's calling
# pattern at batch 1 on the same weights; GPU utilisation sampled per row (benchmarks/gpu_llava_next.py).
#
# Prepared here, once (nothing can be fetched there; the device's image has torch, transformers, pytest and
# xdist, not pydantic; its python3 is 3.12):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
#   python3 -m pip wheel --no-deps -w .whl .
#   mkdir -p shared/mediconfusion && cp ../shared/mediconfusion/dataset.json shared/mediconfusion/   # ignored
# then, with the device tool, carry [".whl", "shared"]:
#   bash benchmarks/gpu_check_throughput.sh          (PAIRS=96 to fit a shorter budget)
# Results: $OUT/llava-next-7b.json and .log; docs/performance.md says how to read them.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 MEDICONFUSION_SHARED=${MEDICONFUSION_SHARED:-$PWD/shared/mediconfusion}
workers=$(( $(nproc) - 1 ))
[ "$workers" -gt 8 ] && workers=8
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(), '$(nproc) cores')" | tee "$OUT/versions.txt"
python3 benchmarks/gpu_llava_next.py --pairs "${PAIRS:-176}" --batches 1 auto --workers 0 "$workers" --harness \
  --json "$OUT/llava-next-7b.json" 2>&1 | tee "$OUT/llava-next-7b.log"
