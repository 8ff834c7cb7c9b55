"""Compare transformers' two image-processor backends (PIL and torchvision) family by family.

Runs under any Python that has transformers, Pillow and torchvision (the main environment of a CPU-only
machine has no torchvision; the vLLM environment of scripts/vllm-env.sh has it). It imports nothing of the
product, so it measures the libraries, not our code. For every family it builds both backends' processors
with the settings of the checkpoint our preset loads (the preprocessor_config.json values below), feeds
both the same seeded ROCO-like JPEGs, and reports whether every output tensor is byte-identical, the
largest absolute pixel difference, the share of values that differ, and milliseconds per image.

    python tests/image_backend_probe.py                  # a table
    python tests/image_backend_probe.py --json --images 8 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
HALF = [0.5, 0.5, 0.5]
BICUBIC, BILINEAR, LANCZOS = 3, 2, 1

#: family: (class name without backend suffix, the checkpoint whose settings these are, settings).
CHECKPOINTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "llava": (
        "CLIPImageProcessor",
        "llava-hf/llava-1.5-7b-hf",
        {
            "size": {"shortest_edge": 336},
            "crop_size": {"height": 336, "width": 336},
            "resample": BICUBIC,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        },
    ),
    "llava-next": (
        "LlavaNextImageProcessor",
        "llava-hf/llava-v1.6-mistral-7b-hf",
        {
            "size": {"shortest_edge": 336},
            "crop_size": {"height": 336, "width": 336},
            "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
            "resample": BICUBIC,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        },
    ),
    "blip2": (
        "BlipImageProcessor",
        "Salesforce/blip2-opt-2.7b",
        {"size": {"height": 224, "width": 224}, "resample": BICUBIC, "image_mean": CLIP_MEAN, "image_std": CLIP_STD},
    ),
    "instructblip": (
        "BlipImageProcessor",
        "Salesforce/instructblip-vicuna-7b",
        {"size": {"height": 224, "width": 224}, "resample": BICUBIC, "image_mean": CLIP_MEAN, "image_std": CLIP_STD},
    ),
    "mllama": (
        "MllamaImageProcessor",
        "meta-llama/Llama-3.2-11B-Vision-Instruct",
        {
            "size": {"height": 560, "width": 560},
            "max_image_tiles": 4,
            "resample": BILINEAR,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        },
    ),
    "gemma3": (
        "Gemma3ImageProcessor",
        "google/medgemma-4b-it",
        {"size": {"height": 896, "width": 896}, "resample": BILINEAR, "image_mean": HALF, "image_std": HALF},
    ),
    "qwen2-vl": (
        "Qwen2VLImageProcessor",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        {
            "min_pixels": 3136,
            "max_pixels": 12845056,
            "patch_size": 14,
            "merge_size": 2,
            "temporal_patch_size": 2,
            "resample": BICUBIC,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        },
    ),
    "idefics3": (
        "Idefics3ImageProcessor",
        "HuggingFaceM4/Idefics3-8B-Llama3",
        {
            "size": {"longest_edge": 1456},
            "max_image_size": {"longest_edge": 364},
            "do_image_splitting": True,
            "resample": LANCZOS,
            "image_mean": HALF,
            "image_std": HALF,
        },
    ),
    "paligemma": (
        "SiglipImageProcessor",
        "google/paligemma-3b-mix-448",
        {"size": {"height": 448, "width": 448}, "resample": BICUBIC, "image_mean": HALF, "image_std": HALF},
    ),
}


def placeholder_images(count: int, seed: int) -> list[Any]:
    """ROCO-like JPEG radiographs in shape only: grey ellipses at 512-1400 px, plus two smaller than any
    model's input (upscaled), decoded from JPEG bytes as a run decodes files."""
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    widths = [rng.randint(512, 1400) for _ in range(max(count - 2, 0))] + [180, 300][: min(count, 2)]
    images = []
    for width in widths:
        height = int(width * rng.uniform(0.7, 1.3))
        canvas = Image.new("L", (width, height), rng.randint(0, 60))
        draw = ImageDraw.Draw(canvas)
        for _ in range(40):
            x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(5, max(width // 4, 6))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 255))
        buffer = io.BytesIO()
        canvas.convert("RGB").save(buffer, format="JPEG", quality=90)
        images.append(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return images


def _arrays(output: Any) -> dict[str, Any]:
    import numpy as np

    found = {}
    for key, value in dict(output).items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        found[key] = np.asarray(value)
    return found


def compare(family: str, images: list[Any], repeat: int) -> dict[str, Any]:
    import numpy as np
    import transformers

    name, checkpoint, settings = CHECKPOINTS[family]
    processors = {
        "pil": getattr(transformers, f"{name}Pil")(**settings),
        "torchvision": getattr(transformers, name)(**settings),
    }
    seconds: dict[str, list[float]] = {backend: [] for backend in processors}
    outputs: dict[str, list[dict[str, Any]]] = {backend: [] for backend in processors}
    for round_ in range(repeat):
        for backend, processor in processors.items():  # interleaved, so drift hits both alike
            started = time.perf_counter()
            results = [_arrays(processor(images=[image], return_tensors="pt")) for image in images]
            seconds[backend].append((time.perf_counter() - started) / len(images))
            if round_ == 0:
                outputs[backend] = results
    identical, largest, differing, total, shapes = True, 0.0, 0, 0, True
    for pil, vision in zip(outputs["pil"], outputs["torchvision"], strict=True):
        if set(pil) != set(vision):
            identical = shapes = False
            continue
        for key in pil:
            a, b = pil[key], vision[key]
            if a.shape != b.shape:
                identical = shapes = False
                continue
            if a.dtype != b.dtype or a.tobytes() != b.tobytes():
                identical = False
            if key.startswith("pixel_values") and a.dtype.kind == "f":
                delta = np.abs(a.astype(np.float64) - b.astype(np.float64))
                largest = max(largest, float(delta.max(initial=0.0)))
                differing += int((delta > 0).sum())
                total += delta.size
    return {
        "family": family,
        "checkpoint": checkpoint,
        "classes": [type(p).__name__ for p in processors.values()],
        "identical": identical,
        "same_shapes": shapes,
        "max_abs_pixel_difference": largest,
        "share_of_pixel_values_differing": differing / total if total else 0.0,
        "ms_per_image": {backend: 1000 * statistics.median(s) for backend, s in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(CHECKPOINTS), choices=list(CHECKPOINTS))
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the preprocessing pool uses 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    import torchvision
    import transformers

    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    images = placeholder_images(args.images, args.seed)
    rows = [compare(family, images, args.repeat) for family in args.families]
    facts = {
        "python": sys.executable,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "images": len(images),
        "threads": args.threads,
        "repeat": args.repeat,
        "families": rows,
    }
    if args.json:
        print(json.dumps(facts))
        return
    print(
        f"transformers {facts['transformers']}, torch {facts['torch']}, torchvision {facts['torchvision']}; "
        f"{len(images)} JPEGs (ROCO-like sizes, two small); {args.threads} torch thread(s); ms/image median of "
        f"{args.repeat}"
    )
    for row in rows:
        ms = row["ms_per_image"]
        print(
            f"{row['family']:<13} identical {row['identical']!s:<5}  max |diff| "
            f"{row['max_abs_pixel_difference']:.3g}  differing {100 * row['share_of_pixel_values_differing']:5.1f}%"
            f"  pil {ms['pil']:7.1f} ms  torchvision {ms['torchvision']:7.1f} ms  x{ms['pil'] / ms['torchvision']:.2f}"
            f"  ({row['checkpoint']})"
        )


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
    main()
