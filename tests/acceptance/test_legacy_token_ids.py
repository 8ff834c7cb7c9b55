"""The medical models see the token ids their authors' code gave them (tests/legacy_tokens.py).

For the 176 real pairs, every prompt the suite builds for RadFM, Med-Flamingo and LLaVA-Med (greedy, mc,
and both prefix sequences of the paper rule) is tokenized by our adapters' own tokenizer set-up on the tiny
LLaMA-style tokenizer of tests/data/legacy_tokens, and compared with the ids recorded from the authors'
stack (transformers 4.33.3, scripts/record_legacy_token_ids.py). A text whose digest differs from the
recorded one means the prompt changed: record again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

import legacy_tokens

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def our_ids(family: str, folder: Path) -> Callable[[str], list[int]]:
    """How our adapter turns this family's text into ids."""
    if family == "radfm":
        import sentencepiece

        from mediconfusion_tests.models.radfm.tokens import RadFMTokens

        pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).get_piece_size()
        tokens = RadFMTokens(folder / "tokenizer.model", int(pieces), legacy_tokens.RADFM_IMAGE_TOKENS)
        return lambda text: _radfm_as_recorded(tokens, text)
    if family == "med-flamingo":
        from mediconfusion_tests.models.med_flamingo.adapter import load_tokenizer

        tokenizer = load_tokenizer(str(folder))
        return lambda text: list(tokenizer([text])["input_ids"][0])
    from mediconfusion_tests.models.llava_med.adapter import load_tokenizer as load_mistral
    from mediconfusion_tests.models.llava_med.loading import LlavaMedProcessor

    processor = LlavaMedProcessor.__new__(LlavaMedProcessor)
    processor.tokenizer = load_mistral(folder)
    # One marker where the image goes, as tokenizer_image_token writes it (the model expands it).
    processor.image_token_id, processor.image_tokens = legacy_tokens.LLAVA_IMAGE_INDEX, 1
    return processor._ids


def _radfm_as_recorded(tokens: Any, text: str) -> list[int]:
    """RadFM's placeholders take ids after the vocabulary, as the authors' added tokens did."""
    return list(tokens.prompt(text))


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return legacy_tokens.recorded()


@pytest.fixture(scope="module")
def texts(real_pairs: tuple[list[Any], Path]) -> dict[str, dict[str, str]]:
    pairs, prompts_file = real_pairs
    return legacy_tokens.texts(pairs, prompts_file)


@pytest.fixture(scope="module")
def real_pairs() -> tuple[list[Any], Path]:
    from conftest import SHARED
    from mediconfusion_tests.data.files import read_pairs

    if not (SHARED / "dataset.json").is_file():
        pytest.skip(f"the real MediConfusion metadata is not at {SHARED} (set MEDICONFUSION_SHARED)")
    return read_pairs(SHARED / "dataset.json"), SHARED / "paper_prompts.json"


@pytest.mark.parametrize("family", legacy_tokens.FAMILIES)
def test_prompt_ids_equal_the_authors_stack(
    family: str, texts: dict[str, dict[str, str]], recorded: dict[str, Any], tmp_path: Path
) -> None:
    expected = recorded[family]
    mine = texts[family]
    assert set(mine) == set(expected), "the prompts changed: record again (scripts/record_legacy_token_ids.py)"
    changed = [key for key, text in mine.items() if legacy_tokens.digest(text) != expected[key][0]]
    assert not changed, f"{len(changed)} prompt text(s) changed, e.g. {changed[:3]}: record again"
    encode = our_ids(family, legacy_tokens.tokenizer_folder(family, tmp_path))
    differ = {key: (expected[key][1], ids) for key, text in mine.items() if (ids := encode(text)) != expected[key][1]}
    first = next(iter(differ.items()), None)
    assert not differ, f"{family}: {len(differ)} of {len(mine)} prompts tokenize differently, e.g. {first}"
    assert len(mine) == 176 * 4
