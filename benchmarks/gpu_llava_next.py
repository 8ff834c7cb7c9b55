"""Full-size LLaVA-NeXT-7B (random weights, built from its configuration, nothing downloaded) on a GPU:
the suite's engine on the real questions, bf16, against the FLOP bound and the original harness's calling
pattern on the same weights.

The model is LLaVA-v1.6-Mistral-7B's shape (Mistral-7B, CLIP ViT-L/14-336, any-resolution tiles: a
square image becomes the base view plus 2x2 tiles, 5 x 576 = 2,880 image tokens); the tokenizer is a
small one trained here (the prompt's token ids do not change the compute). Each row answers every pair
through the suite's Engine as a run does (chunks of pairs, batches, the answer store off, the next chunk's
images prepared ahead in pytest's order), per mode, batch size (a number or auto) and --preprocess-workers
count; ``--harness`` adds the harness's pattern (benchmarks/vs_harness.py: per image the processor, then one
forward, per option in prefix) at batch 1. Printed per row: images/s, pairs/s, the share of the dense bf16
peak (H100/H200: ~989 TFLOP/s, 2 x parameters FLOPs per token), the images the model waited for, and the
GPU's utilisation sampled by nvidia-smi every 0.2 s while the row ran.

    python benchmarks/gpu_llava_next.py --pairs 176 --batches 1 auto --workers 0 8 --harness --json out.json
    python benchmarks/gpu_llava_next.py --tiny --pairs 4 --workers 0 1 --harness     # the same code on a CPU
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import threading
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


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled in a thread while a row runs (nothing where there is none)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Utilisation:
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"]
        while not self._stop.wait(0.2):
            done = subprocess.run(query, capture_output=True, text=True, check=False)
            with contextlib.suppress(ValueError):
                self.samples.append(float(done.stdout.strip().splitlines()[0]))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mean(self) -> float | None:
        return round(statistics.mean(self.samples), 1) if self.samples else None


def suite_row(model: Any, pairs: list[Any], folder: Path, mode: str, batch: str) -> float:
    """Seconds to answer every pair through the suite's Engine, chunks in dataset order, as ``-n 0`` runs."""
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.images import LOCAL, ImageLayout
    from mediconfusion_tests.prompts import BUILTIN
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.run.runtime import chunking

    size: int | str = int(batch) if batch.isdigit() else batch
    config = RunConfig(model="random", batch_size=size)
    engine = Engine(
        model, mode, BUILTIN, ImageLayout(LOCAL, str(folder)), None, batch_size=size, schedule=pairs,
        chunk_of=chunking(pairs, config.chunk_pairs),
    )  # fmt: skip
    order = [pair.id for pair in pairs]
    at = {"index": 0}
    engine.upcoming = lambda: iter(order[at["index"] + 1 :])
    started = time.perf_counter()
    for index, pair in enumerate(pairs):
        at["index"] = index
        outcome = engine.run_pair(pair)
        if outcome.error:
            raise SystemExit(f"{pair.id}: {outcome.error}")
    return time.perf_counter() - started


def harness_row(model: Any, pairs: list[Any], folder: Path, mode: str, device: str) -> float:
    """Seconds for the harness's calling pattern at batch 1 on the same weights and processor."""
    import torch
    from PIL import Image
    from vs_harness import harness_inputs, harness_letters, harness_prefix

    from mediconfusion_tests.prompts import BUILTIN

    processor, network = model.processor, model.model
    letters = harness_letters(processor.tokenizer, ("A", "B"))

    def moved(inputs: Any) -> Any:
        return inputs.to(device)

    started = time.perf_counter()
    with torch.inference_mode():
        for pair in pairs:
            for ref in pair.images:
                image = Image.open(folder / f"{ref.local_id}.jpg").convert("RGB")
                if mode == "prefix":
                    harness_prefix(torch, "llava", network, processor, "{}", pair, image, to=moved)
                    continue
                inputs = moved(harness_inputs("llava", processor, BUILTIN.render(mode, pair), image))
                logits = network(**inputs).logits[0, -1, :].reshape(-1, 1)
                torch.softmax(torch.cat([logits[x.to(device)] for x in letters]), dim=0).argmax().item()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=176)
    parser.add_argument("--batches", nargs="+", default=["1", "auto"], help="batch sizes: numbers or auto")
    parser.add_argument("--modes", nargs="+", default=["greedy", "prefix"])
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="--preprocess-workers values")
    parser.add_argument("--harness", action="store_true", help="also the harness's calling pattern, batch 1")
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

    every = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))
    pairs = every[: args.pairs]
    folder = Path(tempfile.mkdtemp(prefix="mc-gpu-"))
    placeholder_images(folder, pairs)
    started = time.perf_counter()
    device = "cpu" if args.tiny else "cuda"
    model = build(device, args.tiny)
    parameters = sum(p.numel() for p in model.model.parameters())
    print(f"built {parameters / 1e9:.2f} B parameters in {time.perf_counter() - started:.1f} s; {device}")
    from PIL import Image

    from mediconfusion_tests.prompts import BUILTIN

    prompt = model.render(BUILTIN.render("greedy", pairs[0]))
    with Image.open(folder / f"{pairs[0].images[0].local_id}.jpg") as first:
        tokens = model._encode(prompt, first.convert("RGB"))["input_ids"].shape[1]
    images = 2 * len(pairs)
    results = []

    def record(row: dict[str, Any], seconds: float, utilisation: Utilisation) -> None:
        # Both prefix paths are counted as one forward of the prompt and image per image (the suite's shared
        # prompt; the harness's second forward per option is its own cost, which the ratio shows).
        flops = 2 * parameters * tokens * images
        row.update(
            images=images, seconds=round(seconds, 3), images_per_s=round(images / seconds, 2),
            pairs_per_s=round(len(pairs) / seconds, 2), tokens_per_sequence=tokens,
            peak_share=round(flops / seconds / (PEAK_TFLOPS * 1e12), 3), gpu_utilisation=utilisation.mean(),
            max_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 1) if not args.tiny else None,
        )  # fmt: skip
        results.append(row)
        print(json.dumps(row), flush=True)

    for mode in args.modes:
        if args.harness:
            harness_row(model, pairs[:2], folder, mode, device)  # warm-up
            sync()
            with Utilisation() as utilisation:
                seconds = harness_row(model, pairs, folder, mode, device)
                sync()
            record({"side": "harness pattern", "mode": mode, "batch": "1", "workers": 0}, seconds, utilisation)
        for workers in args.workers:
            model.stop_preprocessing()
            why_not = model.start_preprocessing(workers)
            if why_not:
                raise SystemExit(f"--preprocess-workers={workers}: {why_not}")
            for batch in args.batches:
                suite_row(model, pairs[:2], folder, mode, batch)  # warm-up
                sync()
                before = dict(model.preprocess_facts() or {})
                with Utilisation() as utilisation:
                    seconds = suite_row(model, pairs, folder, mode, batch)
                    sync()
                after = model.preprocess_facts() or {}
                waited = after.get("images_waited_for", 0) - before.get("images_waited_for", 0)
                row = {"side": "suite", "mode": mode, "batch": batch, "workers": workers, "images_waited_for": waited}
                record(row, seconds, utilisation)
    model.close()
    if args.json:
        name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        versions = {"torch": torch.__version__, "transformers": __import__("transformers").__version__}
        args.json.write_text(json.dumps({"device": name, **versions, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
