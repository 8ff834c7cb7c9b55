"""The original MediConfusion harness's own code, imported from a checkout (MEDICONFUSION_HARNESS_DIR).

``git clone https://github.com/MShahabSepehri/MediConfusion`` and point the variable at it: the
differential test (tests/acceptance/test_fidelity.py) then asks its answering classes (``utils/answering.py``)
and model files (``Models/blip2.py``, ``instructblip.py``, ``llava.py``, ``llama.py``) exactly as its
``scripts/answering.py`` does, on our tiny checkpoints. The project never contains that code.

What is changed, and why:
- ``llava.*`` (the LLaVA-Med repository, imported by ``Models/llava.py`` but never used by LLaVA-NeXT)
  is stubbed, and ``huggingface_hub.login`` does nothing (offline, no token);
- ``Models/llava.py``'s prefix path has a leftover ``raise ValueError(out.logits.shape, ...)`` after the
  forward pass, so it can produce no prefix answer at all; that one line is left out when the module
  is loaded (a finding, reported by ``quirks``), nothing else;
- each image is asked on its own (``ask_question`` with one path) and, for InstructBLIP's sampled mc,
  after ``torch.manual_seed(seed)``, as the suite seeds each sampled image;
- where its prefix raises "Answer tokens not found" (Llama on some pairs), the image is recorded as None.

Under transformers 5, BLIP-2's and InstructBLIP's ``generate`` return the prompt too, which their
``do_generation`` decodes whole: the texts are compared after that decoded prompt (a finding: the
harness's own clean-up then reads every such answer as invalid).
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: Our family name -> (the harness's key, its answering class).
CLASSES = {
    "blip2": ("blip2", "BLIP2Answering"),
    "instructblip": ("instructblip", "InstructBLIPAnswering"),
    "llava-next": ("llava", "LLaVAAnswering"),
    "mllama": ("llama", "LlamaAnswering"),
}
LEFTOVER_RAISE = "raise ValueError(out.logits.shape, answer_start, input_ids.size(1), answer_start_from_back)"


@dataclass
class Quirks:
    """What the real code did that is not a MediConfusion rule: counted, reported, not reproduced."""

    removed_raise: bool = False
    not_found: list[str] = field(default_factory=list)
    prompt_in_output: int = 0


def _stub_llava() -> None:
    for name in ("llava", "llava.conversation", "llava.mm_utils", "llava.constants"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["llava.conversation"].conv_templates = {}  # type: ignore[attr-defined]
    sys.modules["llava.mm_utils"].tokenizer_image_token = None  # type: ignore[attr-defined]
    sys.modules["llava.constants"].IMAGE_TOKEN_INDEX = -200  # type: ignore[attr-defined]


def _load_llava_without_leftover_raise(root: Path, quirks: Quirks) -> None:
    source = (root / "Models" / "llava.py").read_text()
    lines = source.splitlines()
    found = [i for i, line in enumerate(lines) if line.strip() == LEFTOVER_RAISE]
    if len(found) != 1:
        raise RuntimeError(f"{root}/Models/llava.py: expected its one leftover raise, found {len(found)}")
    del lines[found[0]]
    quirks.removed_raise = True
    module = types.ModuleType("Models.llava")
    module.__file__ = str(root / "Models" / "llava.py")
    exec(compile("\n".join(lines) + "\n", module.__file__, "exec"), module.__dict__)  # noqa: S102 - the authors' file
    sys.modules["Models.llava"] = module
    sys.modules["Models"].llava = module  # type: ignore[attr-defined]


def load_harness(root: Path) -> tuple[Any, Quirks]:
    """``utils.answering`` of the checkout at ``root``, with the stubs above."""
    quirks = Quirks()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _stub_llava()
    import huggingface_hub

    huggingface_hub.login = lambda *args, **kwargs: None
    importlib.import_module("Models")
    _load_llava_without_leftover_raise(root, quirks)
    answering = importlib.import_module("utils.answering")
    return answering, quirks


class RealHarness:
    """One answering object of the harness per family and mode, on a tiny checkpoint."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root = root
        self.answering, self.quirks = load_harness(root)
        self.workdir = workdir

    def answering_object(self, family: str, folder: Path, mode: str) -> Any:
        key, class_name = CLASSES[family]
        config = json.loads((self.root / "configs" / "Models" / key / "vanilla.json").read_text())
        config["model_id"] = str(folder)
        path = self.workdir / f"{key}-{mode}.json"
        path.write_text(json.dumps(config))
        cls = getattr(self.answering, class_name)
        return cls(str(path), mode, str(self.workdir), True, 3, "cpu")

    def answers(self, family: str, folder: Path, pairs: list[Any], image_root: str, mode: str) -> dict[str, Any]:
        """{"pair/index": decision or text} as the harness answered each image (None where it raised)."""
        import torch

        obj = self.answering_object(family, folder, mode)
        out: dict[str, Any] = {}
        for pair in pairs:
            for index, ref in enumerate(pair.images):
                key = f"{pair.id}/{index}"
                path = f"{image_root}/{ref.local_id}.jpg"
                torch.manual_seed(0)
                try:
                    response = obj.ask_question(pair.question, list(pair.options), [path])[0]
                except ValueError as exc:
                    if "Answer tokens not found" not in str(exc):
                        raise
                    self.quirks.not_found.append(key)
                    out[key] = None
                    continue
                out[key] = self._continuation(obj, family, mode, pair, path, response)
        return out

    def _continuation(self, obj: Any, family: str, mode: str, pair: Any, path: str, response: Any) -> Any:
        if mode != "mc":
            return response
        text = str(response)
        if family in ("blip2", "instructblip"):
            from PIL import Image

            question = obj.convert_question(pair.question, list(pair.options))
            image = Image.open(path).convert("RGB")
            ids = obj.processor(images=image, text=question, return_tensors="pt")["input_ids"][0]
            prompt = obj.processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
            if text.startswith(prompt):
                self.quirks.prompt_in_output += 1
                text = text[len(prompt) :]
        return text.strip()
