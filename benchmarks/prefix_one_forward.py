"""`paper` prefix with one forward per image against one forward per option, family by family.

The original harness read every option token from the row before the option, which depends only on the
tokens before it; where both options' sequences agree up to there the suite now computes that row once,
over the shared prompt. This runs the 176 real pairs (MEDICONFUSION_SHARED's dataset.json, the paper's
prompt file) on small seeded placeholder images through each family's tiny checkpoint twice, sharing on and
off, and prints per family: images scored the original's way, how many shared the forward, decisions that
differ between the two ways (must be 0), the largest relative difference of the original's geometric-mean
scores, the smallest relative margin between A and B, and forward passes per image and answering seconds
each way. Pairs a tiny checkpoint cannot answer either way are left out and counted (the tiny LLaVA-Med's
tokenizer reads characters it lacks as <unk>, id 0, which is also its image token: an option holding one
fails per option, and not with one forward, whose prompt stops before the option).

    python benchmarks/prefix_one_forward.py                        # every family, fp32
    python benchmarks/prefix_one_forward.py --families blip2 radfm --pairs 40
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))
FAMILIES = ("blip2", "instructblip", "llava-next", "mllama", "llava-med", "med-flamingo", "radfm")


def load(family: str, root: Path) -> Any:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings

    folder = root / family
    if family == "mllama":
        from tiny_models import LLAMA3_TEMPLATE, build_mllama

        build_mllama(folder, template=LLAMA3_TEMPLATE)
    elif family in ("blip2", "instructblip", "llava-next"):
        from tiny_models import build_tiny

        build_tiny(family, folder)
    if family in ("blip2", "instructblip", "llava-next", "mllama"):
        return HFModel(LoadSettings(str(folder), dtype="fp32"), name=family)
    if family == "llava-med":
        from llava_med_tiny import build_llava_med

        from mediconfusion_tests.models.llava_med.adapter import make_llava_med

        build_llava_med(folder)
        spec = ModelSpec(raw=f"llava-med:{folder}", name="llava-med", argument=str(folder))
        return make_llava_med(spec, RunConfig(model=spec.raw, device="cpu", dtype="fp32"))
    if family == "med-flamingo":
        from med_flamingo_tiny import build_med_flamingo

        from mediconfusion_tests.models.med_flamingo.adapter import make_med_flamingo

        checkpoint, llama = build_med_flamingo(folder)
        spec = ModelSpec(raw=f"med-flamingo:{checkpoint}", name="med-flamingo", argument=str(checkpoint))
        config = RunConfig(model=spec.raw, device="cpu", dtype="fp32", llama_path=str(llama))
        return make_med_flamingo(spec, config)
    from radfm_tiny import build_tiny_radfm

    from mediconfusion_tests.models.radfm.adapter import make_radfm

    build_tiny_radfm(folder)
    spec = ModelSpec(raw=f"radfm:{folder}", name="radfm", argument=str(folder))
    return make_radfm(spec, RunConfig(model=spec.raw, device="cpu", dtype="fp32"))


def answer_all(model: Any, pairs: list[Any], layout: Any, share: bool) -> tuple[dict[str, Any], set[str], float]:
    from mediconfusion_tests.prompts import load_paper_prompts
    from mediconfusion_tests.run.engine import Engine

    model.share_prefix_forward = share
    model.image_forwards = model.images_answered = 0
    prompts = load_paper_prompts(SHARED / "paper_prompts.json", model.prompt_key)
    engine = Engine(model, "prefix", prompts, layout, None, batch_size="auto", schedule=pairs, chunk_of=lambda _: 0)
    found: dict[str, Any] = {}
    failed: set[str] = set()
    started = time.perf_counter()
    for pair in pairs:
        outcome = engine.run_pair(pair)
        if outcome.error is not None:
            failed.add(pair.id)  # the same pairs must fail both ways; they are left out of the comparison
        for index, answer in enumerate(outcome.answers or ()):
            found[f"{pair.id}/{index}"] = answer
    return found, failed, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--pairs", type=int, default=176)
    args = parser.parse_args()

    import torch

    from mediconfusion_tests.data.files import read_pairs
    from mediconfusion_tests.data.images import LOCAL, ImageLayout

    pairs = read_pairs(SHARED / "dataset.json")
    work = Path(tempfile.mkdtemp(prefix="mc-prefix-one-forward-"))
    from helpers import small_placeholder_images

    small_placeholder_images(work / "images", pairs)
    layout = ImageLayout(LOCAL, str(work / "images"))
    chosen = pairs[: args.pairs]
    print(f"{len(chosen)} real pairs, paper prompts, prefix --prefix-tokens=paper, fp32, {os.cpu_count()} cores")
    print(
        "family        paper images  shared  differ  max rel. score diff  min rel. margin  "
        "forwards/image (one / per option)  seconds (one / per option)"
    )
    for family in args.families:
        with torch.inference_mode():
            model = load(family, work)
        one, one_failed, one_s = answer_all(model, chosen, layout, share=True)
        one_forwards = model.image_forwards / max(model.images_answered, 1)
        per, per_failed, per_s = answer_all(model, chosen, layout, share=False)
        per_forwards = model.image_forwards / max(model.images_answered, 1)
        left_out = {key for key in one if key.split("/")[0] in one_failed | per_failed}
        paper = [k for k, a in one.items() if a.meta.get("prefix_tokens") == "paper" and k not in left_out]
        shared = sum(one[k].meta.get("prefix_forwards") == 1 for k in paper)
        differ = sum(one[k].model_letter != per[k].model_letter for k in one if k not in left_out)
        gaps, margins = [], []
        for key in paper:
            left, right = one[key].meta["geometric_mean"], per[key].meta["geometric_mean"]
            for letter in ("A", "B"):
                gaps.append(abs(left[letter] - right[letter]) / max(abs(right[letter]), 1e-300))
            margins.append(abs(right["A"] - right["B"]) / max(right["A"], right["B"], 1e-300))
        print(
            f"{family:<13} {len(paper):>12}  {shared:>6}  {differ:>6}  {max(gaps, default=0.0):>19.2e}  "
            f"{min(margins, default=0.0):>15.2e}  {one_forwards:>16.3f} / {per_forwards:<15.3f}  "
            f"{one_s:>9.2f} / {per_s:.2f}"
            + (f"  (left out: pairs failed, {len(one_failed)} / {len(per_failed)})" if left_out else ""),
            flush=True,
        )
        model.close()


if __name__ == "__main__":
    main()
