"""Med-Flamingo generation: the key/value cache against recomputing the whole sequence every step.

Builds the tiny Med-Flamingo of our tests (tests/med_flamingo_tiny.py, random weights), loads it through
the suite's adapter, and times ``generate()`` (one new token per step through the cache) against a loop
that runs the whole sequence through ``forward()`` for each token, as the suite did before. Both must pick
the same tokens; the script says so and prints the ratio, median of ``--repeat`` interleaved rounds.

    python benchmarks/med_flamingo_generation.py                 # CPU, about a minute
    python benchmarks/med_flamingo_generation.py --tokens 100 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def recompute(network: Any, ids: Any, mask: Any, pixels: Any, tokens: int) -> Any:
    import torch

    with torch.no_grad():
        for _ in range(tokens):
            token = network(ids, mask, pixel_values=pixels).logits[:, -1, :].float().argmax(dim=-1)
            ids = torch.cat([ids, token[:, None]], dim=-1)
            mask = torch.cat([mask, torch.ones_like(token)[:, None]], dim=-1)
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per generation (the paper's mc: 32)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch
    from med_flamingo_tiny import build_med_flamingo
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.med_flamingo.adapter import MedFlamingoModel, make_med_flamingo

    with tempfile.TemporaryDirectory() as folder:
        checkpoint, llama = build_med_flamingo(Path(folder) / "tiny")
        spec = ModelSpec(raw=f"med-flamingo:{checkpoint}", name="med-flamingo", argument=str(checkpoint))
        config = RunConfig(model=spec.raw, device="cpu", dtype="fp32", llama_path=str(llama))
        model = make_med_flamingo(spec, config)
        assert isinstance(model, MedFlamingoModel)
        network = model.model
        network.endofchunk_id = None  # random weights: run every step
        network.config.eos_token_id = None
        text = model.render("Which side of the chest shows the larger opacity on this radiograph?")
        inputs = model.processor(text=[text], images=[Image.new("RGB", (40, 40), (200, 120, 40))])
        ids, mask, pixels = inputs["input_ids"], inputs["attention_mask"], inputs["pixel_values"]
        cached_s, whole_s = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            cached = network.generate(ids, mask, pixel_values=pixels, max_new_tokens=args.tokens)
            cached_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            whole = recompute(network, ids, mask, pixels, args.tokens)
            whole_s.append(time.perf_counter() - start)
        same = bool(torch.equal(cached, whole))
        print(f"prompt {ids.shape[1]} tokens, {args.tokens} new tokens, torch threads {torch.get_num_threads()}")
        print(f"recompute: {statistics.median(whole_s):.3f} s   cache: {statistics.median(cached_s):.3f} s")
        print(f"speed-up (median of {args.repeat}): {statistics.median(whole_s) / statistics.median(cached_s):.2f}x")
        print(f"same tokens: {same}")
        model.close()
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
