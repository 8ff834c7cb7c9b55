"""RadFM's prompt ids, built with sentencepiece and explicit special ids.

RadFM was trained with the slow LLaMA tokenizer of its time: ``<image>`` and
``</image>`` then ``<image0>`` ... ``<image3199>`` added after the 32,000-piece
vocabulary (ids 32000, 32001, 32002...), each text chunk between special tokens
encoded on its own with sentencepiece's leading-space marker, bos 1, eos 2, pad 0.
Current transformers treats this tokenizer's empty special tokens and legacy
spacing differently, so the ids are put together here instead: bos, then per
image ``<image>`` + its placeholders + ``</image>``, then the text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from pathlib import Path

PAD, BOS, EOS = 0, 1, 2
#: Images a prompt may hold (the authors' tokenizer adds placeholders for 100 images of 32 tokens).
MAX_IMAGES = 100


class RadFMTokens:
    def __init__(self, model_file: Path, vocab: int, image_tokens: int) -> None:
        try:
            import sentencepiece
        except ImportError as exc:
            raise ModelError(
                "RadFM needs the sentencepiece package: pip install sentencepiece (in the hf extra)"
            ) from exc
        self.processor: Any = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        pieces = int(self.processor.get_piece_size())
        if pieces != vocab:
            raise ModelError(
                f"RadFM tokenizer {model_file} has {pieces} pieces but the checkpoint's vocabulary has {vocab}: "
                "use the tokenizer.model published with the checkpoint"
            )
        self.vocab = vocab
        self.image_tokens = image_tokens
        self.image_start, self.image_end = vocab, vocab + 1

    def placeholders(self, image: int) -> list[int]:
        """``<image>``, the image's placeholder tokens, ``</image>``."""
        if not 0 <= image < MAX_IMAGES:
            raise ModelError(f"RadFM takes at most {MAX_IMAGES} images per prompt")
        first = self.vocab + 2 + image * self.image_tokens
        return [self.image_start, *range(first, first + self.image_tokens), self.image_end]

    def text(self, text: str) -> list[int]:
        """One text chunk, as the legacy tokenizer encoded the text after a special token."""
        ids: list[int] = self.processor.encode(text)
        return ids

    def prompt(self, text: str, images: int = 1) -> list[int]:
        """bos, the images (at the start of the prompt, as the original harness placed them), the text."""
        ids = [BOS]
        for image in range(images):
            ids += self.placeholders(image)
        return ids + self.text(text)

    def letter(self, letter: str) -> int:
        """The piece of an answer letter after a space ("▁A"), as the original harness scored it."""
        piece = "\u2581" + letter
        found = int(self.processor.piece_to_id(piece))
        if found == self.processor.unk_id() and piece != self.processor.id_to_piece(found):
            raise ModelError(f"RadFM tokenizer has no piece {piece!r}")
        return found

    def decode(self, ids: list[int]) -> str:
        """Generated ids as text, special and image ids left out."""
        text: str = self.processor.decode([i for i in ids if 2 < i < self.vocab])
        return text
