"""The suite against the original harness's own calling code, on the real questions and the paper's prompts.

Harness side (``harness_*`` below): the calling pattern of github MShahabSepehri/MediConfusion
``VLMs/blip2.py`` and ``VLMs/llava.py``, written out here: per image, the processor called on that
image and prompt, then at batch 1 a ``generate`` (mc), a forward reading the last position's logits of
the letter tokens and a softmax over them (greedy), or per option its own forward with the option
found in the prompt's token ids by the harness's sliding search and a softmax over the whole
vocabulary at every option position (prefix). Suite side: ``pytest --pyargs mediconfusion_tests.suite``
in a fresh process, answer store off, read from its results.json ``timing`` (answering only, model
load apart), so no wall times are subtracted.

Workload: the 176 real pairs (``../shared/mediconfusion/dataset.json``, or MEDICONFUSION_SHARED), the
paper's prompt file (``--prompts``), and 228 placeholder JPEGs at ROCO-like sizes (512-1400 px, seeded),
on tiny checkpoints with real output vocabularies (BLIP-2: OPT 50272, hidden 256, 4 layers; LLaVA: Llama
32000, hidden 256, 4 layers). Runs interleave harness and suite, repeated; printed: pairs/s median
[min-max] per side and the ratio per repeat. Also ``-n 0`` against ``-n 2`` for the suite.

    python benchmarks/vs_harness.py                                  # blip2 and llava, greedy/prefix/mc, 3 repeats
    python benchmarks/vs_harness.py --families llava --modes greedy --repeat 5 --pairs 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))
PROMPT_KEYS = {"blip2": "blip2", "llava": "default", "qwen": "default"}
#: Qwen2.5-VL's processor resizes to at most this many pixels (the range its model card suggests for
#: tight memory: 256-1280 x 28 x 28), so a ROCO-sized image becomes ~256 visual tokens.
QWEN_MAX_PIXELS = 256 * 28 * 28


# -- workload --------------------------------------------------------------------------------------
def placeholder_images(folder: Path, pairs: list[Any], seed: int = 0) -> None:
    """A JPEG per distinct image, at ROCO-like sizes, with structure (not flat colour) so decoding costs."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for image in {i.local_id: i for pair in pairs for i in pair.images}.values():
        path = folder / f"{image.local_id}.jpg"
        if path.exists():
            continue
        width = rng.randint(512, 1400)
        height = int(width * rng.uniform(0.7, 1.3))
        canvas = Image.new("L", (width, height), rng.randint(0, 60))
        draw = ImageDraw.Draw(canvas)
        for _ in range(40):
            x, y = rng.randint(0, width), rng.randint(0, height)
            r = rng.randint(10, width // 4)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 255))
        canvas.convert("RGB").save(path, quality=90)


def build(family: str, folder: Path) -> None:
    if (folder / "config.json").exists():
        return
    if family == "blip2":
        from tiny_models import build_blip2

        build_blip2(folder, text_hidden=256, text_layers=4, vocab_size=50272)
    elif family == "qwen":
        build_qwen(folder)
    else:
        from mediconfusion_tests.sample.demo_model import build_llava

        build_llava(folder, hidden=256, layers=4, image=112, vocab_size=32000)


def build_qwen(folder: Path) -> None:
    """Qwen2.5-VL with its real vocabulary (151,936), text hidden 256 x 4 layers, a 1-block vision tower,
    and the real processor class (needs torchvision: see docs/performance.md for the environment)."""
    from tiny_models import QWEN_TEMPLATE
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from mediconfusion_tests.sample.demo_model import save_checkpoint, train_tokenizer

    specials = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    named = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    tokenizer = train_tokenizer(
        specials, named=named, bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>", template=QWEN_TEMPLATE
    )
    ids = tokenizer.convert_tokens_to_ids
    text = {
        "vocab_size": 151936,
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "mrope_section": [8, 12, 12], "rope_theta": 10000.0},
        "bos_token_id": None,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    vision = {
        "depth": 1,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "in_chans": 3,
        "out_hidden_size": 256,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [0],
    }
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    images = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=QWEN_MAX_PIXELS)
    processor = Qwen2_5_VLProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_TEMPLATE,
    )
    save_checkpoint(folder, config, Qwen2_5_VLForConditionalGeneration, processor, seed=0)


# -- the harness's calling pattern ----------------------------------------------------------------------
class Clock:
    """Seconds spent per part of the harness's loop (``--breakdown``): decoding and processing the image
    with the prompt, against the model's own work."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - started


NO_CLOCK = Clock()


def harness_letters(tokenizer: Any, letters: tuple[str, ...]) -> list[Any]:
    return [tokenizer(x, return_tensors="pt", add_special_tokens=False)["input_ids"] for x in letters]


def harness_inputs(family: str, processor: Any, prompt: str, image: Any, option: str | None = None) -> Any:
    if family == "blip2":
        text = prompt
    elif option is None:
        content = [{"type": "text", "text": prompt}, {"type": "image"}]
        text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    else:
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
            {"role": "assistant", "content": [{"type": "text", "text": option}]},
        ]
        text = processor.apply_chat_template(conversation, add_generation_prompt=True)
    return processor(images=image, text=text, return_tensors="pt")


def harness_prefix(
    torch: Any,
    family: str,
    model: Any,
    processor: Any,
    prompt: Any,
    pair: Any,
    image: Any,
    clock: Clock = NO_CLOCK,
    to: Callable[[Any], Any] = lambda inputs: inputs,
) -> str | None:
    """``to``: where the inputs go (a GPU) before the forward."""
    scores = []
    for option in pair.options:
        # The paper's "Question: {} Answer: {}", as our prompt set holds it (the option goes at the end).
        text = prompt.format(question=pair.question) + option if family == "blip2" else pair.question
        with clock.part("preprocess"):
            inputs = to(harness_inputs(family, processor, text, image, None if family == "blip2" else option))
        answer = processor.tokenizer.encode(" " + option, add_special_tokens=False)
        answer = answer if family == "blip2" else answer[1:]
        ids = inputs["input_ids"].cpu()
        starts = [
            i
            for i in range(ids.size(1) - len(answer) + 1)
            if torch.equal(ids[0, i : i + len(answer)], torch.tensor(answer))
        ]
        if not starts or not answer:
            return None  # the harness raises here ("Answer tokens not found")
        back = starts[-1] - ids.size(1)
        with clock.part("model"):
            logits = model(**inputs).logits[0, back - 1 : back - 1 + len(answer)]
        probs = torch.gather(torch.softmax(logits, dim=-1), 1, torch.tensor(answer, device=logits.device).unsqueeze(0))
        scores.append(float(torch.prod(probs.pow(1 / len(answer)))))
    return "A" if scores[0] > scores[1] else "B"


def harness(
    family: str, checkpoint: Path, pairs: list[Any], images: Path, mode: str, prompts: Any, clock: Clock = NO_CLOCK
) -> float:
    """Pairs per second of the harness's pattern (after its model loads)."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint).eval()
    letters = ("A", "B", "C", "D") if family == "blip2" else ("A", "B")
    token_ids = harness_letters(processor.tokenizer, letters)
    raw_prefix = prompts.templates.get("prefix", "{} {}")
    started = time.perf_counter()
    with torch.inference_mode():
        for pair in pairs:
            prompt = prompts.render(mode, pair) if mode != "prefix" else raw_prefix
            for ref in pair.images:
                with clock.part("preprocess"):
                    image = Image.open(images / f"{ref.local_id}.jpg").convert("RGB")
                if mode == "prefix":
                    harness_prefix(torch, family, model, processor, prompt, pair, image, clock)
                    continue
                with clock.part("preprocess"):
                    inputs = harness_inputs(family, processor, prompt, image)
                with clock.part("model"):
                    if mode == "greedy":
                        logits = model(**inputs).logits[0, -1, :].reshape(-1, 1)
                        torch.softmax(torch.cat([logits[x] for x in token_ids]), dim=0).argmax()
                    else:
                        output = model.generate(**inputs, max_new_tokens=32, do_sample=False)
                        processor.decode(output[0], skip_special_tokens=True)
    return len(pairs) / (time.perf_counter() - started)


# -- the suite ---------------------------------------------------------------------------------------------
def suite(checkpoint: Path, images: Path, mode: str, work: Path, pairs: int, workers: int = 0) -> float:
    results = work / f"suite-{mode}-{workers}-{time.monotonic_ns()}"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "mediconfusion_tests.suite", "-q", "-p", "no:cacheprovider",
        "-p", "no:hypothesispytest", f"--model=hf:{checkpoint}", f"--mode={mode}", f"--dataset={SHARED}",
        f"--images={images}", f"--prompts={SHARED / 'paper_prompts.json'}", "--no-store", f"--limit={pairs}",
        "--max-new-tokens=32", f"--results-dir={results}", *(["-n", str(workers)] if workers else []),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    found = sorted(results.glob("*/results.json"))
    if not found:
        raise SystemExit(f"the suite wrote no results:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    document = json.loads(found[-1].read_text())
    workers_timing = document["timing"]["workers"].values()
    answering = max(w["answering_s"] for w in workers_timing)
    return document["counts"]["pairs_scored"] / answering


def breakdown(family: str, checkpoint: Path, pairs: list[Any], images: Path, mode: str, prompts: Any, repeat: int):
    """Where the harness's time goes, and the ratio the suite could reach at best.

    The suite must decode and process every image as the harness does (the same pixels give the same
    decisions), once per image; the harness processes it once per image, twice in prefix (once per
    option). With the suite's model work taken as free, suite/harness is at most
    total / (preprocessing per image once); at most twice that with both cores preprocessing in parallel.
    """
    shares, ceilings = [], []
    for _ in range(repeat):
        clock = Clock()
        rate = harness(family, checkpoint, pairs, images, mode, prompts, clock)
        total = len(pairs) / rate
        once = clock.parts.get("preprocess", 0.0) / (2 if mode == "prefix" else 1)
        shares.append(clock.parts.get("preprocess", 0.0) / total)
        ceilings.append(total / once)
    print(
        f"{family:6} {mode:7} harness: preprocessing {spread([100 * s for s in shares])} % of its time; "
        f"ceiling of suite/harness at one image processing per image: {spread(ceilings)} "
        f"(x2 with two cores preprocessing: {2 * statistics.median(ceilings):.2f})"
    )


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--families",
        nargs="+",
        default=["blip2", "llava"],
        choices=["blip2", "llava", "qwen"],
        help="qwen: torchvision",
    )
    parser.add_argument("--modes", nargs="+", default=["greedy", "prefix", "mc"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=176, help="the first N real pairs (default: all 176)")
    parser.add_argument("--workers", action="store_true", help="also the suite with -n 2 against -n 0")
    parser.add_argument("--work", type=Path, help="keep checkpoints and images here (default: a temporary folder)")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="only the harness, timed by part: the ceiling of any suite/harness ratio that keeps its pixels",
    )
    args = parser.parse_args()

    import torch

    from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
    from mediconfusion_tests.prompts import prompt_set

    torch.set_num_threads(os.cpu_count() or 1)
    every = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))
    pairs = every[: args.pairs]
    work = args.work or Path(tempfile.mkdtemp(prefix="mc-vs-harness-"))
    images = work / "images"
    placeholder_images(images, every)  # the suite checks every image of the dataset before it starts
    print(f"{len(pairs)} real pairs, paper prompts, placeholder JPEGs 512-1400 px; {os.cpu_count()} cores; "
          f"{args.repeat} interleaved repeat(s); pairs/s of answering, median [min-max]")  # fmt: skip
    for family in args.families:
        checkpoint = work / f"tiny-{family}"
        build(family, checkpoint)
        prompts = prompt_set(str(SHARED / "paper_prompts.json"), PROMPT_KEYS[family])
        for mode in args.modes:
            if args.breakdown:
                breakdown(family, checkpoint, pairs, images, mode, prompts, args.repeat)
                continue
            ours, theirs, ratios = [], [], []
            for _ in range(args.repeat):
                theirs.append(harness(family, checkpoint, pairs, images, mode, prompts))
                ours.append(suite(checkpoint, images, mode, work, len(pairs)))
                ratios.append(ours[-1] / theirs[-1])
            print(
                f"{family:6} {mode:7} harness {spread(theirs)}  suite {spread(ours)}  "
                f"ratio {spread(ratios)}  (each: {', '.join(f'{r:.2f}' for r in ratios)})"
            )
            if args.workers:
                two = [suite(checkpoint, images, mode, work, len(pairs), workers=2) for _ in range(args.repeat)]
                gain = statistics.median(two) / statistics.median(ours)
                print(f"{family:6} {mode:7} suite -n 2 {spread(two)}  vs -n 0 x{gain:.2f}")


if __name__ == "__main__":
    main()
