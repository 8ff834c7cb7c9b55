"""Encode each example alone, then collate with left padding.

Processing every (prompt, image) on its own means an example's tokens never
depend on what else is in the batch; collating ourselves puts all padding at
the very left (some processors put image tokens before the padding) and keeps
BERT-like side inputs right-padded. Together they make decisions independent
of batch size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.models.families import SEQUENCE_KEYS, Family

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

PAD_VALUES = {"labels": -100}


def _left_pad(tensors: Sequence[torch.Tensor], length: int, value: int) -> torch.Tensor:
    import torch

    rows = []
    for tensor in tensors:
        missing = length - tensor.shape[1]
        shape = list(tensor.shape)
        shape[1] = missing
        rows.append(torch.cat([torch.full(shape, value, dtype=tensor.dtype), tensor], dim=1))
    return torch.cat(rows)


def _right_pad(tensors: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    import torch

    length = max(t.shape[1] for t in tensors)
    return torch.cat([torch.nn.functional.pad(t, (0, length - t.shape[1]), value=value) for t in tensors])


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate along the first dimension, zero-padding other dimensions to the largest.

    Zero padding is what processors do themselves, e.g. LLaVA-NeXT's variable
    number of image tiles, which the model then reads through image_sizes.
    """
    import torch

    shape = [max(sizes) for sizes in zip(*(t.shape for t in tensors), strict=True)]
    padded = []
    for tensor in tensors:
        pads: list[int] = []
        for dim in reversed(range(1, tensor.dim())):
            pads += [0, shape[dim] - tensor.shape[dim]]
        padded.append(torch.nn.functional.pad(tensor, pads) if any(pads) else tensor)
    return torch.cat(padded)


def collate(features: Sequence[dict[str, Any]], family: Family, pad_id: int, side_pad_id: int = 0) -> dict[str, Any]:
    length = max(f["input_ids"].shape[1] for f in features)
    batch: dict[str, Any] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if key in family.right_padded:
            batch[key] = _right_pad(values, side_pad_id if key.endswith("input_ids") else 0)
        elif key in SEQUENCE_KEYS:
            batch[key] = _left_pad(values, length, pad_id if key == "input_ids" else PAD_VALUES.get(key, 0))
        else:
            batch[key] = _stack(values)
    return batch
