"""A tiny BiomedCLIP in the published hub layout, for `mine-pairs --encoder biomedclip` offline.

Run by an interpreter that has open_clip, timm and torchvision (see .ci/run): ``python biomedclip_tiny.py
HF_CACHE``. It writes two repositories into a Hugging Face hub cache, as a download would leave them:
``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224`` with ``open_clip_config.json`` (the published
schema: a timm ViT image tower with a linear projection, a BiomedBERT text tower with an MLP projection and
CLS pooling, CLIP's mean and std; only the sizes are tiny) and ``open_clip_pytorch_model.bin``, and the
text tower's ``config.json`` under ``microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract``. The weights are
open_clip's own random initialisation of that configuration, seeded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BIOMEDCLIP = "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
TEXT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
REVISION = "0" * 40


def snapshot(cache: Path, repo: str) -> Path:
    base = cache / f"models--{repo.replace('/', '--')}"
    folder = base / "snapshots" / REVISION
    folder.mkdir(parents=True, exist_ok=True)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(REVISION)
    return folder


def build(cache: Path) -> None:
    os.environ["HF_HUB_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import open_clip
    import torch
    from transformers import BertConfig

    text = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=260,
    )
    (snapshot(cache, TEXT) / "config.json").write_text(text.to_json_string())
    config = {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {
                "timm_model_name": "vit_tiny_patch16_224",
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
                "image_size": 224,
            },
            "text_cfg": {
                "hf_model_name": TEXT,
                "hf_tokenizer_name": TEXT,
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": 256,
            },
        },
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
    }
    folder = snapshot(cache, BIOMEDCLIP)
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(0)
    building = json.loads(json.dumps(config["model_cfg"]))
    building["text_cfg"]["hf_model_pretrained"] = False  # random text weights: there are none to load
    model = open_clip.model.CustomTextCLIP(**building)
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
