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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))
PROMPT_KEYS = {"blip2": "blip2", "llava": "default"}


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
    else:
        from mediconfusion_tests.sample.demo_model import build_llava

        build_llava(folder, hidden=256, layers=4, image=112, vocab_size=32000)


# -- the harness's calling pattern ----------------------------------------------------------------------
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
    torch: Any, family: str, model: Any, processor: Any, prompt: Any, pair: Any, image: Any
) -> str | None:
    scores = []
    for option in pair.options:
        # The paper's "Question: {} Answer: {}", as our prompt set holds it (the option goes at the end).
        text = prompt.format(question=pair.question) + option if family == "blip2" else pair.question
        inputs = harness_inputs(family, processor, text, image, None if family == "blip2" else option)
        answer = processor.tokenizer.encode(" " + option, add_special_tokens=False)
        answer = answer if family == "blip2" else answer[1:]
        ids = inputs["input_ids"]
        starts = [
            i
            for i in range(ids.size(1) - len(answer) + 1)
            if torch.equal(ids[0, i : i + len(answer)], torch.tensor(answer))
        ]
        if not starts or not answer:
            return None  # the harness raises here ("Answer tokens not found")
        back = starts[-1] - ids.size(1)
        logits = model(**inputs).logits[0, back - 1 : back - 1 + len(answer)]
        probs = torch.gather(torch.softmax(logits, dim=-1), 1, torch.tensor(answer).unsqueeze(0))
        scores.append(float(torch.prod(probs.pow(1 / len(answer)))))
    return "A" if scores[0] > scores[1] else "B"


def harness(family: str, checkpoint: Path, pairs: list[Any], images: Path, mode: str, prompts: Any) -> float:
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
                image = Image.open(images / f"{ref.local_id}.jpg").convert("RGB")
                if mode == "prefix":
                    harness_prefix(torch, family, model, processor, prompt, pair, image)
                    continue
                inputs = harness_inputs(family, processor, prompt, image)
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


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["blip2", "llava"], choices=["blip2", "llava"])
    parser.add_argument("--modes", nargs="+", default=["greedy", "prefix", "mc"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=176, help="the first N real pairs (default: all 176)")
    parser.add_argument("--workers", action="store_true", help="also the suite with -n 2 against -n 0")
    parser.add_argument("--work", type=Path, help="keep checkpoints and images here (default: a temporary folder)")
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
