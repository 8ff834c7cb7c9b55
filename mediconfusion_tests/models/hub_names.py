"""Where the built-in medical models' files live: names only, so the controller's checks import no model code."""

from __future__ import annotations

LLAVA_MED_REPO = "microsoft/llava-med-v1.5-mistral-7b"
MED_FLAMINGO_REPO = "med-flamingo/med-flamingo"
#: Med-Flamingo's published weights (the trainable parameters over OpenFlamingo-9B's layout).
MED_FLAMINGO_CHECKPOINT = "model.pt"
#: A sub-folder of a med-flamingo:PATH folder holding its own CLIP vision encoder.
MED_FLAMINGO_VISION_FOLDER = "vision"
#: open_clip's ViT-L-14/openai as transformers publishes it.
MED_FLAMINGO_VISION = "openai/clip-vit-large-patch14"
#: The LLaMA-7B Med-Flamingo was trained on, and where to get it today: the authors loaded
#: decapoda-research/llama-7b-hf, which is gone from the hub; snap-stanford/med-flamingo issue 14 points to
#: a mirror of its files; huggyllama's is the same LLaMA-1 weights converted again.
MED_FLAMINGO_LLAMA = (
    "the authors used decapoda-research/llama-7b-hf, which is gone from the hub; its mirror "
    "baffo32/decapoda-research-llama-7B-hf holds the same files (huggyllama/llama-7b: the same LLaMA-1 7B "
    "weights converted again): `hf download baffo32/decapoda-research-llama-7B-hf --local-dir models/llama-7b-hf`, "
    "then --llama-path=models/llama-7b-hf"
)
