"""A copy of a transformers-5 LLaVA checkpoint with the weight names of the hub's LLaVA checkpoints.

transformers 5 saves a LLaVA's vision tower as ``vision_tower.embeddings...``; the hub's
checkpoints (llava-hf/*) and the loaders that follow them, vLLM's among them, name the
same weights ``vision_tower.vision_model.embeddings...`` and refuse the shorter names
("There is no module or parameter named 'vision_tower.embeddings'"). The copy renames
those keys and nothing else: the tensors, config, tokenizer and chat template are the
original's, so a server loading the copy runs the very weights the suite runs in-process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mediconfusion_tests.errors import DataError

#: Prefix of the vision tower's weights, and what the hub's layout puts after it.
VISION_TOWER = "vision_tower."
HUB_VISION_MODEL = "vision_tower.vision_model."


def hub_key(key: str) -> str:
    """The hub's name for one weight of a transformers-5 LLaVA."""
    if key.startswith(VISION_TOWER) and not key.startswith(HUB_VISION_MODEL):
        return HUB_VISION_MODEL + key[len(VISION_TOWER) :]
    return key


def write_hub_layout(checkpoint: str | Path, destination: str | Path) -> Path:
    """Copy ``checkpoint`` to ``destination`` with hub weight names; returns the destination.

    Every ``*.safetensors`` file is rewritten (an index file's weight map with it); every other
    file is copied as it is. A destination that exists is refused rather than mixed with.
    """
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    source, target = Path(checkpoint), Path(destination)
    shards = sorted(source.glob("*.safetensors"))
    if not shards:
        raise DataError(f"{source}: no *.safetensors weights to copy")
    if target.exists():
        raise DataError(f"{target} exists already; give a new folder for the hub-layout copy")
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file() and item.suffix != ".safetensors" and item.name != "model.safetensors.index.json":
            shutil.copy2(item, target / item.name)
    for shard in shards:
        with safe_open(str(shard), framework="pt") as handle:
            tensors = {hub_key(key): handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata = handle.metadata()
        save_file(tensors, str(target / shard.name), metadata=metadata)
    index = source / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data["weight_map"] = {hub_key(k): v for k, v in data.get("weight_map", {}).items()}
        (target / index.name).write_text(json.dumps(data, indent=2))
    return target
