"""Full-size LLaVA-NeXT-7B (random weights, built from its configuration, nothing downloaded) on a GPU:
the suite's adapter on the real questions at batch size 1 and 16, bf16, against the FLOP bound.

The model is LLaVA-v1.6-Mistral-7B's shape (Mistral-7B, CLIP ViT-L/14-336, any-resolution tiles: a
square image becomes the base view plus 2x2 tiles, 5 x 576 = 2,880 image tokens); the tokenizer is a
small one trained here (the prompt's token ids do not change the compute). Prints images/s and pairs/s
per mode and batch size, and the share of the dense bf16 peak they reach (H100/H200: ~989 TFLOP/s)
counting 2 x parameters FLOPs per token.

    python benchmarks/gpu_llava_next.py --pairs 64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
PEAK_TFLOPS = 989.0


def build(device: str, tiny: bool = False) -> Any:
    import contextlib

    import torch
    import transformers
    from transformers import (
        CLIPVisionConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        MistralConfig,
    )

    image_processor_class = (
        getattr(transformers, "LlavaNextImageProcessorPil", None) or transformers.LlavaNextImageProcessor
    )
    no_init_weights: Any
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        no_init_weights = contextlib.nullcontext

    from mediconfusion_tests.models.families import family_for
    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings
    from mediconfusion_tests.sample.demo_model import chat_template, train_tokenizer

    template = chat_template("<image>", turn_start="[INST] ", assistant="[/INST]")
    tokenizer = train_tokenizer(["<image>", "[INST]", "[/INST]"], named={"image_token": "<image>"}, template=template)
    pinpoints = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    # --tiny: the same code path at toy sizes, to try the script on a CPU.
    hidden, layers, heads = (64, 2, 2) if tiny else (4096, 32, 32)
    text = MistralConfig(
        vocab_size=32064, hidden_size=hidden, intermediate_size=3 * hidden if tiny else 14336,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=2 if tiny else 8,
        max_position_embeddings=32768, rms_norm_eps=1e-5, sliding_window=None,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    vision = CLIPVisionConfig(
        hidden_size=64 if tiny else 1024, intermediate_size=128 if tiny else 4096,
        num_hidden_layers=2 if tiny else 24, num_attention_heads=1 if tiny else 16, image_size=336, patch_size=14,
        projection_dim=64 if tiny else 768,
    )  # fmt: skip
    config = LlavaNextConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.image_token_id,
        image_grid_pinpoints=pinpoints, vision_feature_layer=-2, vision_feature_select_strategy="default",
    )  # fmt: skip
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32 if tiny else torch.bfloat16)
    try:
        with no_init_weights(), torch.device(device):
            model = LlavaNextForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():
        for parameter in model.parameters():  # small random values: no NaN from uninitialised memory
            parameter.normal_(0.0, 0.02)
    model.eval()
    images = image_processor_class(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}, image_grid_pinpoints=pinpoints
    )
    processor = LlavaNextProcessor(
        image_processor=images, tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
        chat_template=template, num_additional_image_tokens=1,
    )  # fmt: skip
    tokenizer.padding_side = "left"
    settings = LoadSettings(source="random:llava-v1.6-mistral-7b", dtype="fp32" if tiny else "bf16", device=device)
    family = family_for("llava_next", None)
    return HFModel(settings, name="llava-next-7b-random", loaded=(processor, model, family, device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--modes", nargs="+", default=["greedy", "prefix"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU: try the script")
    args = parser.parse_args()

    import tempfile

    import torch

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    from vs_harness import SHARED, placeholder_images

    from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
    from mediconfusion_tests.models.base import Query
    from mediconfusion_tests.prompts import BUILTIN

    every = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))
    pairs = every[: args.pairs]
    folder = Path(tempfile.mkdtemp(prefix="mc-gpu-"))
    placeholder_images(folder, pairs)
    started = time.perf_counter()
    device = "cpu" if args.tiny else "cuda"
    model = build(device, args.tiny)
    parameters = sum(p.numel() for p in model.model.parameters())
    print(f"built {parameters / 1e9:.2f} B parameters in {time.perf_counter() - started:.1f} s; {device}")
    results = []
    for mode in args.modes:
        queries = [
            Query(
                p.id, i + 1, str(folder / f"{r.local_id}.jpg"), "", p.question, p.options, mode, BUILTIN.render(mode, p)
            )
            for p in pairs
            for i, r in enumerate(p.images)
        ]
        tokens = model._encode(model.render(queries[0].prompt), model._image(queries[0].image_path))["input_ids"].shape[
            1
        ]
        for batch in args.batches:
            model.answer(queries[:batch])  # warm-up
            sync()
            times = []
            for _ in range(2):
                start = time.perf_counter()
                for index in range(0, len(queries), batch):
                    model.answer(queries[index : index + batch])
                sync()
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            # prefix: LLaVA-NeXT computes the prompt and image once for both options (shared cache); the
            # options' few tokens are left out of the count.
            forwards = len(queries)
            flops = 2 * parameters * tokens * forwards
            row = {
                "mode": mode, "batch": batch, "images": len(queries), "seconds": round(seconds, 3),
                "images_per_s": round(len(queries) / seconds, 2), "pairs_per_s": round(len(pairs) / seconds, 2),
                "tokens_per_sequence": tokens, "peak_share": round(flops / seconds / (PEAK_TFLOPS * 1e12), 3),
                "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if not args.tiny else None,
            }  # fmt: skip
            results.append(row)
            print(json.dumps(row))
    if args.json:
        name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        args.json.write_text(json.dumps({"device": name, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
