"""Med-Flamingo's tokenizer folder: a tokenizer.model alone names what converting it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("transformers")


def test_a_tokenizer_model_only_folder_names_what_converting_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    import transformers

    from mediconfusion_tests.models.hf_loading import load_sentencepiece_tokenizer

    (tmp_path / "tokenizer.model").write_bytes(b"sentencepiece")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("`tiktoken` is required to read a `tiktoken` file. Install it with `pip install tiktoken`.")

    real = importlib.util.find_spec
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "google.protobuf" else real(name))
    with pytest.raises(ModelError, match=r"tokenizer.model only \(no tokenizer.json\); converting it needs protobuf"):
        load_sentencepiece_tokenizer(str(tmp_path))
