"""The demo model's checkpoint: a tiny LLaVA saved like a real one, built from a config at first use.

A tokenizer is trained locally with ``tokenizers`` on the suite's own prompts and
the sample benchmark's text, the model is built from a small config, and model,
tokenizer, image processor, processor and chat template are written with
``save_pretrained``, so loading goes through the same ``from_pretrained`` path as a
hub checkpoint. Needs torch, transformers and tokenizers (the ``hf`` extra). Our
tests build the other families' tiny checkpoints from the same pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.prompts import BUILTIN_JUDGE, BUILTIN_TEMPLATES
from mediconfusion_tests.sample.benchmark import PAIRS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

HIDDEN = 32
IMAGE = 32
PATCH = 8


def chat_template(image: str, turn_start: str = "", turn_end: str = "\n", assistant: str = "assistant:") -> str:
    """A generic Jinja chat template that writes ``image`` where an image part stands."""
    return (
        "{% for message in messages %}" + turn_start + "{{ message['role'] }}: "
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}" + image + "\n{% else %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}" + turn_end + "{% endfor %}"
        "{% if add_generation_prompt %}" + assistant + "{% endif %}"
    )


def corpus() -> list[str]:
    """Text the tokenizers learn from: our prompts, the sample questions and options, answer shapes."""
    lines = [*BUILTIN_TEMPLATES.values(), BUILTIN_JUDGE]
    for pair in PAIRS:
        lines += [pair.question, pair.paraphrase, *(o.text for o in pair.options)]
    lines += ["user: assistant: model:", "The answer is A.", "The answer is B.", "A", "B", " A", " B", "(A)", "(B)"]
    return lines * 4


def train_tokenizer(
    specials: Sequence[str] = (),
    *,
    named: dict[str, str] | None = None,
    bos: str = "<s>",
    eos: str = "</s>",
    pad: str = "<pad>",
    template: str | None = None,
    sentencepiece: bool = False,
    vocab_size: int = 500,
) -> Any:
    """A fast tokenizer trained here; every special token is in the trainer so its id is fixed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    unk = "<unk>"
    backend = Tokenizer(models.BPE(unk_token=unk))
    if sentencepiece:
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
        alphabet: list[str] = []
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    everything = list(dict.fromkeys([unk, bos, eos, pad, *specials]))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=everything, initial_alphabet=alphabet, show_progress=False
    )
    backend.train_from_iterator(corpus(), trainer)
    kwargs: dict[str, Any] = {"bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk}
    if named:
        kwargs["extra_special_tokens"] = named
    if template:
        kwargs["chat_template"] = template
    return PreTrainedTokenizerFast(tokenizer_object=backend, padding_side="left", **kwargs)


def vocab(tokenizer: Any) -> int:
    return ((len(tokenizer) + 63) // 64) * 64


def special_ids(tokenizer: Any) -> dict[str, Any]:
    return {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}


def llama_config(tokenizer: Any, hidden: int = HIDDEN, layers: int = 2, vocab_size: int | None = None) -> Any:
    from transformers import LlamaConfig

    heads = max(2, hidden // 64)
    return LlamaConfig(
        vocab_size=max(vocab_size or 0, vocab(tokenizer)),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        **special_ids(tokenizer),
    )


def clip_config(hidden: int = HIDDEN, layers: int = 2, image: int = IMAGE) -> Any:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(2, hidden // 64),
        image_size=image,
        patch_size=PATCH,
        projection_dim=hidden,
    )


def save_checkpoint(
    folder: Path, config: Any, model_class: Any, *parts: Any, seed: int, drawn: Sequence[str] = ()
) -> None:
    """``drawn``: parameters transformers initialises to zeros that a trained checkpoint never holds,
    drawn from a normal distribution instead (else everything after them reads zeros)."""
    import torch

    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name in drawn:
            model.get_parameter(name).normal_(0.0, 0.5)
    model.save_pretrained(folder)
    for part in parts:
        part.save_pretrained(folder)


def build_llava(
    folder: Path,
    seed: int = 0,
    sentencepiece: bool = False,
    hidden: int = HIDDEN,
    layers: int = 2,
    image: int = IMAGE,
    vocab_size: int | None = None,
) -> None:
    """LLaVA-1.5 shape: CLIP tower, MLP projector, Llama; "default" feature strategy drops CLS.

    ``hidden``, ``layers``, ``image`` and ``vocab_size`` scale it up for benchmarks where compute
    must dominate (a real checkpoint's output layer spans 32k-150k tokens; ours need not).
    """
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    template = chat_template("<image>")
    tokenizer = train_tokenizer(
        ["<image>"], named={"image_token": "<image>"}, template=template, sentencepiece=sentencepiece
    )
    config = LlavaConfig(
        vision_config=clip_config(hidden, layers, image),
        text_config=llama_config(tokenizer, hidden, layers, vocab_size),
        image_token_index=tokenizer.image_token_id,
        image_seq_length=(image // PATCH) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    images = CLIPImageProcessorPil(size={"shortest_edge": image}, crop_size={"height": image, "width": image})
    # The processor counts CLS as one additional token and subtracts it again for "default".
    processor = LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        chat_template=template,
        num_additional_image_tokens=1,
    )
    save_checkpoint(folder, config, LlavaForConditionalGeneration, processor, seed=seed)


#: The demo model's size: big enough to learn some findings in seconds, small enough to run anywhere.
DEMO_HIDDEN = 64


def build_demo(
    folder: Path, seed: int = 0, steps: int | None = None, progress: Callable[[int, int], None] | None = None
) -> Path:
    """The demo model: a tiny LLaVA, then trained on synthetic scenes that are not the sample's."""
    from mediconfusion_tests.sample.demo_training import STEPS, train

    build_llava(folder, seed=seed, hidden=DEMO_HIDDEN)
    train(folder, STEPS if steps is None else steps, progress)
    return folder
