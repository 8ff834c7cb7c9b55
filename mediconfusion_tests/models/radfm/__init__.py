"""RadFM (Wu et al., 2023): our own implementation that loads the published checkpoint.

The checkpoint ``chaoyi-wu/RadFM`` is one ``pytorch_model.bin`` of a module tree
we rebuild here with the same parameter names and shapes, on current torch and
transformers: a 3D ViT over the (2D image repeated to depth 4) scan, a perceiver
that resamples its patches to 32 latents, a linear map into LLaMA-13B's embedding
space, and the LLaMA itself. Each image occupies 32 placeholder tokens between
``<image>`` and ``</image>``; their embeddings are the 32 projected latents.

- ``shapes``: the architecture's sizes, read from the checkpoint's tensors (no torch);
- ``network``: the torch modules;
- ``checkpoint``: strict, memory-mapped loading and the key check;
- ``tokens``: prompt ids built with sentencepiece and explicit special ids;
- ``archive``: the published split zip, assembled and extracted once;
- ``adapter``: the suite's Model (the four modes, batching, preprocessing).
"""
