"""Forward time of a full-size RadFM (random weights, no download) at batch 1, 8 and 32.

Builds the published architecture (LLaMA-13B, the 3D ViT, the perceiver) straight
on the GPU in bf16 (about 27 GB), then times what the suite's modes run per batch
of images: the image embedding (ViT + perceiver + fc) and a forward over a
MediConfusion-length prompt (the image block plus about 100 text tokens), and a
10-token greedy generation. Prints one row per batch size and writes the numbers
as JSON (``--json``).

    python benchmarks/radfm_forward.py --json radfm.json        # on a GPU (H100/H200: about 2 minutes)
    python benchmarks/radfm_forward.py --tiny                   # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediconfusion_tests.models.radfm.network import build
from mediconfusion_tests.models.radfm.shapes import (
    LanguageShape,
    PerceiverShape,
    RadFMShape,
    VisionShape,
)

PUBLISHED = RadFMShape(
    LanguageShape(32000, 5120, 40, 40, 40, 13824, 1e-6, 2048, 10000.0),
    VisionShape(dim=768, depth=12, dim_head=64, mlp_dim=2048, patch=32, rows=16, cols=16, frames=128),
    PerceiverShape(dim=768, latents=32, depth=6, dim_head=64, ff_dim=3072),
)
TINY = RadFMShape(
    LanguageShape(320, 32, 2, 4, 4, 64, 1e-6, 1024, 10000.0),
    VisionShape(dim=24, depth=2, dim_head=4, mlp_dim=48, patch=4, rows=4, cols=4, frames=8),
    PerceiverShape(dim=24, latents=4, depth=2, dim_head=4, ff_dim=96),
)
TEXT_TOKENS = 100


def timed(torch: Any, device: str, fn: Any, repeat: int) -> list[float]:
    fn()  # warm-up: kernels chosen, memory pools filled
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def images(model: Any, scans: Any, dtype: Any) -> Any:
    return model.embedding_layer.image_embeddings(scans.to(dtype))


def forward(model: Any, ids: Any, scans: Any, mask: Any) -> Any:
    return model.lang_model(inputs_embeds=model.embed(ids, scans), attention_mask=mask).logits[:, -1]


def generate(model: Any, ids: Any, scans: Any, mask: Any) -> Any:
    return model.lang_model.generate(
        inputs_embeds=model.embed(ids, scans),
        attention_mask=mask,
        max_new_tokens=10,
        min_new_tokens=10,
        do_sample=False,
        pad_token_id=0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny layout on CPU (a smoke run)")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print("the full-size model (27 GB in bf16) needs a GPU; use --tiny for a CPU smoke run", file=sys.stderr)
        return 2
    device = "cpu" if args.tiny else "cuda"
    shape = TINY if args.tiny else PUBLISHED
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    torch.manual_seed(0)
    started = time.perf_counter()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.device(device):
        model = build(shape).eval()
    torch.set_default_dtype(previous)
    build_s = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    vocab, latents, side = shape.language.vocab, shape.image_tokens, shape.vision.image_size
    rows = []
    with torch.inference_mode():
        for batch in [int(b) for b in args.batches.split(",")]:
            scans = torch.rand(batch, 3, side, side, shape.vision.frame_patch, device=device)
            prompt = [1, vocab, *range(vocab + 2, vocab + 2 + latents), vocab + 1]
            prompt += [3 + (i * 37) % (vocab - 3) for i in range(TEXT_TOKENS)]
            ids = torch.tensor([prompt] * batch, device=device)
            mask = torch.ones_like(ids)

            work = {
                "images": partial(images, model, scans, dtype),
                "forward": partial(forward, model, ids, scans, mask),
                "generate10": partial(generate, model, ids, scans, mask),
            }
            row: dict[str, Any] = {"batch": batch, "prompt_tokens": len(prompt)}
            for name, fn in work.items():
                times = timed(torch, device, fn, args.repeat)
                row[f"{name}_ms_median"] = round(1000 * statistics.median(times), 2)
                row[f"{name}_ms_min"] = round(1000 * min(times), 2)
                row[f"{name}_ms_max"] = round(1000 * max(times), 2)
            row["forward_images_per_s"] = round(batch / (row["forward_ms_median"] / 1000), 1)
            if device == "cuda":
                row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
                torch.cuda.reset_peak_memory_stats()
            rows.append(row)
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    result = {
        "device": gpu,
        "torch": torch.__version__,
        "dtype": str(dtype).removeprefix("torch."),
        "parameters": parameters,
        "build_s": round(build_s, 1),
        "repeat": args.repeat,
        "rows": rows,
    }
    print(
        f"RadFM {'tiny' if args.tiny else 'full size'}: {parameters / 1e9:.2f} B parameters, {gpu}, {result['dtype']}"
    )
    print(f"{'batch':>5} {'images ms':>10} {'forward ms':>11} {'gen10 ms':>9} {'img/s':>7} {'peak GiB':>9}")
    for row in rows:
        print(
            f"{row['batch']:>5} {row['images_ms_median']:>10} {row['forward_ms_median']:>11} "
            f"{row['generate10_ms_median']:>9} {row['forward_images_per_s']:>7} {row.get('peak_gib', '-'):>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
