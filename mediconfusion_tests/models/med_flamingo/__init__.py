"""Med-Flamingo: OpenFlamingo-9B's layout (CLIP ViT-L/14, perceiver, gated cross-attention) on a LLaMA-7B."""
