"""Load a RadFM ``pytorch_model.bin`` strictly, without holding two copies of it in memory.

The file is opened memory-mapped (its tensors stay on disk until read); the
module tree is built on the meta device (no memory); each used tensor is then
cast to the run's dtype and moved to the device on its own, and assigned. The
checkpoint's every tensor is accounted for first: used, or one of the known
modules answering never runs; anything else, missing or misshapen is an error
that names the tensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.radfm.shapes import (
    EMBEDDING_ALIAS,
    TOKEN_EMBEDDING,
    KeyReport,
    RadFMShape,
    check_keys,
    infer_shape,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    import torch

    from mediconfusion_tests.models.radfm.network import RadFM

WEIGHTS = "pytorch_model.bin"
TOKENIZER = "tokenizer.model"
LLAMA_CONFIG = "config.json"


@dataclass(frozen=True)
class Loaded:
    model: RadFM
    shape: RadFMShape
    report: KeyReport

    def summary(self) -> str:
        left_out = sorted(
            {
                key.split(".")[1] if key.startswith("embedding_layer.") else "rotary_emb.inv_freq"
                for key in self.report.left_out
            }
        )
        return (
            f"loaded {len(self.report.used)} tensors; left out {len(self.report.left_out)} that answering never "
            f"uses ({', '.join(left_out) or 'none'})"
        )


def read_llama_config(folder: Path) -> dict[str, Any] | None:
    path = folder / LLAMA_CONFIG
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"RadFM: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"RadFM: {path} is not a JSON object")
    return data


def open_state(path: Path) -> Mapping[str, Any]:
    """The checkpoint's tensors, memory-mapped where the file format allows, through torch's safe loader
    only (``weights_only``): a file that is not a checkpoint, or that holds code, is refused in one line."""
    import zipfile

    import torch

    try:
        if zipfile.is_zipfile(path):
            state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        else:
            # Files written by torch < 1.6 (not zip-based) cannot be memory-mapped: read them whole.
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a file that is not a checkpoint
        raise ModelError(f"RadFM: {path} is not a RadFM checkpoint: {_refusal(exc)}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"RadFM: {path} holds a {type(state).__name__}, not a state dict")
    return state


def _refusal(exc: BaseException) -> str:
    """One line saying why torch's safe loader refused the file. torch's own message also suggests loading
    with ``weights_only=False``, which would run whatever code the file holds: that advice is left out."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    unpickler = next((line for line in lines if line.startswith("WeightsUnpickler error:")), None)
    if unpickler is not None:
        found = unpickler.removeprefix("WeightsUnpickler error:").strip()
        return f"it holds Python objects, not only tensors ({found[:160]}); the safe loader refused to run them"
    first = next((line for line in lines if "weights_only" not in line), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:200]}"


def load_checkpoint(
    folder: Path,
    dtype: torch.dtype,
    device: str,
    state: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Loaded:
    import torch

    from mediconfusion_tests.models.radfm.network import build

    weights = folder / WEIGHTS
    if state is None:
        if not weights.is_file():
            raise ModelError(f"RadFM: no {WEIGHTS} in {folder}")
        state = open_state(weights)
    shapes = {key: tuple(value.shape) for key, value in state.items() if hasattr(value, "shape")}
    shape = infer_shape(shapes, read_llama_config(folder))
    report = check_keys(shapes, shape)
    if not report.ok:
        raise ModelError(report.error(str(weights)))
    alias, table = state[EMBEDDING_ALIAS], state[TOKEN_EMBEDDING]
    if alias.data_ptr() != table.data_ptr() and not torch.equal(alias, table):
        raise ModelError(
            f"RadFM checkpoint {weights}: {EMBEDDING_ALIAS} and {TOKEN_EMBEDDING} differ; the published model ties "
            "them (the file is damaged or not RadFM)"
        )
    with torch.device("meta"):
        model = build(shape)
    wanted = model.state_dict()
    converted = {}
    for index, (key, meta) in enumerate(wanted.items()):
        converted[key] = state[key].to(device=device, dtype=dtype if meta.is_floating_point() else meta.dtype)
        if progress is not None:
            progress(index + 1, len(wanted))
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelError(f"RadFM: {weights}: {exc}") from exc
    # Buffers computed at construction (rotary frequencies) stayed on meta: compute them where the weights are.
    _rebuild_rotary(model, device)
    model.eval()
    return Loaded(model, shape, report)


def _rebuild_rotary(model: RadFM, device: str) -> None:
    """Rotary tables are computed, not stored: build them again on the device (they were made on meta)."""
    import torch

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__.endswith("RotaryEmbedding"):
                with torch.device(device):
                    setattr(parent, name, type(child)(child.config))
    for name, buffer in model.named_buffers():
        if buffer.device.type == "meta":
            raise ModelError(f"RadFM: buffer {name} was not materialised")
