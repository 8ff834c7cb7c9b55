"""Token ids as the medical models' authors' code produced them, recorded once from their software stack.

RadFM, Med-Flamingo and LLaVA-Med were run with tokenizers of transformers 4.x, whose LLaMA tokenizers
differ from transformers 5's in how they mark spaces after special tokens. tests/data/legacy_tokens/ holds
a tiny LLaMA-style sentencepiece model (``tokenizer.model``, trained by scripts/record_legacy_token_ids.py on
the sample's text) and ``ids.json.gz``: for every prompt the suite builds for the 176 real pairs (greedy,
mc and both prefix sequences), the SHA-256 of its text and the ids the authors' stack gave it, recorded with
transformers 4.33.3 (scripts/record_legacy_token_ids.py says how each family's tokenizer was set up).
tests/acceptance/test_legacy_token_ids.py builds the same texts and compares our ids with the recorded ones.

This module is also imported by the recording script under transformers 4.33.3, so it imports nothing of
ours at module level.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

DATA = Path(__file__).resolve().parent / "data" / "legacy_tokens"
FAMILIES = ("radfm", "med-flamingo", "llava-med")
#: RadFM's placeholders per image, and LLaVA's image marker in tokenizer_image_token's output.
RADFM_IMAGE_TOKENS = 32
LLAVA_IMAGE_INDEX = -200
PROMPT_KEYS = {"radfm": "radfm", "med-flamingo": "med_flamingo", "llava-med": "llava_med"}

#: How each family's tokenizer folder was configured (tokenizer_config.json), beside the same tokenizer.model:
#: Med-Flamingo's LLaMA-7B as the hub's transformers-format copies have it; RadFM's Language_files (empty
#: special-token strings, class LlamaTokenizer); LLaVA-Med's Mistral tokenizer.
CONFIGS: dict[str, dict[str, Any]] = {
    "med-flamingo": {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 2048,
    },
    "radfm": {"tokenizer_class": "LlamaTokenizer", "bos_token": "", "eos_token": "", "unk_token": ""},
    "llava-med": {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": True,
        "spaces_between_special_tokens": False,
        "model_max_length": 32768,
    },
}


def tokenizer_folder(family: str, root: Path) -> Path:
    """A folder holding the tiny tokenizer.model, configured as ``family``'s authors' tokenizer was."""
    folder = root / family
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes((DATA / "tokenizer.model").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps(CONFIGS[family]))
    (folder / "special_tokens_map.json").write_text("{}" if family == "radfm" else json.dumps(_specials(family)))
    return folder


def _specials(family: str) -> dict[str, str]:
    config = CONFIGS[family]
    return {name: config[name] for name in ("bos_token", "eos_token", "unk_token")}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def texts(pairs: Any, prompts_file: Path) -> dict[str, dict[str, str]]:
    """Per family, {key: the text our adapter tokenizes}: greedy and mc prompts with the paper's prompt file,
    and the two prefix sequences the paper rule scores. Keys: ``mode/pair`` and ``prefix/pair/letter``."""
    from types import SimpleNamespace

    from mediconfusion_tests.models.base import Query
    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.llava_med.adapter import LlavaMedModel
    from mediconfusion_tests.models.med_flamingo.adapter import frame
    from mediconfusion_tests.models.paper_rules import RULES
    from mediconfusion_tests.models.radfm.adapter import option_texts
    from mediconfusion_tests.prompts import load_paper_prompts

    out: dict[str, dict[str, str]] = {family: {} for family in FAMILIES}
    renderers: dict[str, Callable[[str, str], str]] = {
        "radfm": lambda prompt, mode: prompt,
        "med-flamingo": lambda prompt, mode: frame(prompt, mode, few_shot=True),
        "llava-med": lambda prompt, mode: LlavaMedModel.render(None, prompt),  # type: ignore[arg-type]
    }
    for family in FAMILIES:
        prompts = load_paper_prompts(prompts_file, PROMPT_KEYS[family])
        render = renderers[family]
        for pair in pairs:
            for mode in ("greedy", "mc"):
                out[family][f"{mode}/{pair.id}"] = render(prompts.render(mode, pair), mode)
            stem = prompts.render("prefix", pair)
            if family == "radfm":
                sequences = option_texts(stem, pair.options)
            else:
                query = Query(pair.id, 1, "x", "", pair.question, pair.options, "prefix", stem, verbatim=True)
                model = SimpleNamespace(
                    prompt_style="plain",
                    render=lambda prompt, with_image=True, verbatim=False, render=render: render(prompt, "prefix"),
                )
                sequences = [
                    HFModel.paper_prefix_text(model, RULES[family], query, option, True)  # type: ignore[arg-type]
                    for option in pair.options
                ]
            for letter, text in zip("AB", sequences, strict=True):
                out[family][f"prefix/{pair.id}/{letter}"] = text
    return out


def recorded() -> dict[str, dict[str, list[Any]]]:
    """{family: {key: [text digest, ids]}} as recorded from the authors' stack."""
    import gzip

    with gzip.open(DATA / "ids.json.gz", "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return {family: data[family] for family in FAMILIES}
