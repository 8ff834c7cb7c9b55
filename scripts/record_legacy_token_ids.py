"""Record the token ids the medical models' authors' code gave each prompt (tests/data/legacy_tokens/).

Three steps, the last under the transformers those models were run with:

    python scripts/record_legacy_token_ids.py tokenizer                       # tests/data/legacy_tokens/tokenizer.model
    python scripts/record_legacy_token_ids.py prompts --out /tmp/prompts.jsonl   # our texts for the 176 real pairs
    python3 -m venv /tmp/tf433 && /tmp/tf433/bin/pip install "transformers==4.33.3" "tokenizers<0.14" \\
        sentencepiece protobuf
    /tmp/tf433/bin/python scripts/record_legacy_token_ids.py record --prompts /tmp/prompts.jsonl

``record`` sets each tokenizer up as its authors' code did (on the tiny tokenizer.model, in a folder
configured as tests/legacy_tokens.CONFIGS says):

- Med-Flamingo (open_flamingo's ``create_model_and_transforms``): ``AutoTokenizer.from_pretrained`` of the
  LLaMA-7B folder, then ``<|endofchunk|>`` and ``<image>`` added as special tokens and ``<PAD>`` as the pad
  token; a prompt is ``tokenizer([prompt])`` (FlamingoProcessor.encode_text);
- RadFM (its ``get_tokenizer``): ``LlamaTokenizer.from_pretrained`` of Language_files, ``<image>``,
  ``</image>`` and ``<image0>``..``<image3199>`` added as special tokens, pad/bos/eos ids set to 0/1/2; a
  prompt is ``tokenizer("<image>" + "<image0>...<image31>" + "</image>" + text)`` (combine_and_preprocess with
  the image at position 0);
- LLaVA-Med (its builder for Mistral, ``AutoTokenizer.from_pretrained``; ``tokenizer_image_token``): the
  prompt split on ``<image>``, each chunk tokenized on its own, the first chunk's BOS kept once, each later
  chunk's first token dropped, -200 where the image goes.

The output, ``ids.json.gz``, holds per family and prompt key the text's digest and its ids (no text: the
questions are the benchmark's, which the project does not copy).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import legacy_tokens  # noqa: E402

VOCAB = 1200


def make_tokenizer() -> None:
    """A LLaMA-style sentencepiece BPE model (unk 0, bos 1, eos 2, byte fallback, dummy prefix) trained on
    the sample's questions and options and the prompt frames, so words split into real pieces."""
    import io

    import sentencepiece

    from mediconfusion_tests.models.med_flamingo.adapter import FEW_SHOT, PREAMBLE
    from mediconfusion_tests.prompts import BUILTIN_TEMPLATES
    from mediconfusion_tests.sample.benchmark import PAIRS

    lines = [PREAMBLE, "[INST] [/INST] Question: Answer: Options: A: B:"]
    for pair in PAIRS:
        lines += [pair.question, pair.paraphrase, *(option.text for option in pair.options)]
    for _, question, options, _ in FEW_SHOT:
        lines += [question, *options]
    lines += [template.replace("{", "").replace("}", "") for template in BUILTIN_TEMPLATES.values()]
    lines += ["Answer: A", "Answer: B", " A ", " B ", "(A)", "(B)"] * 20
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=VOCAB,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        # LLaMA's normalizer: none; spaces kept as they are; digits split.
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        num_threads=1,
        minloglevel=2,
    )
    legacy_tokens.DATA.mkdir(parents=True, exist_ok=True)
    (legacy_tokens.DATA / "tokenizer.model").write_bytes(model.getvalue())
    print(f"wrote {legacy_tokens.DATA / 'tokenizer.model'} ({VOCAB} pieces)")


def dump_prompts(out: Path) -> None:
    import os

    from mediconfusion_tests.data.files import read_pairs

    shared = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))

    pairs = read_pairs(shared / "dataset.json")
    with out.open("w", encoding="utf-8") as handle:
        for family, texts in legacy_tokens.texts(pairs, shared / "paper_prompts.json").items():
            for key, text in texts.items():
                handle.write(json.dumps({"family": family, "key": key, "text": text}) + "\n")
    print(f"wrote {out}")


def _med_flamingo(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|endofchunk|>", "<image>"]})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<PAD>"})
    return lambda text: list(tokenizer([text])["input_ids"][0])


def _radfm(folder: Path) -> Any:
    from transformers import LlamaTokenizer

    tokenizer = LlamaTokenizer.from_pretrained(str(folder))
    special = {"additional_special_tokens": ["<image>", "</image>"]}
    for image in range(100):
        special["additional_special_tokens"] += [f"<image{image * 32 + j}>" for j in range(32)]
        tokenizer.add_special_tokens(special)
    tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id = 0, 1, 2
    placeholders = "".join(f"<image{j}>" for j in range(legacy_tokens.RADFM_IMAGE_TOKENS))
    return lambda text: list(tokenizer("<image>" + placeholders + "</image>" + text)["input_ids"])


def _llava_med(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))

    def ids(text: str) -> list[int]:
        chunks = [tokenizer(chunk).input_ids for chunk in text.split("<image>")]
        out: list[int] = []
        offset = 0
        if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
            offset = 1
            out.append(chunks[0][0])
        # Separators are sliced like chunks ([-200] * (offset + 1))[offset:]: one marker per image.
        for index, chunk in enumerate(chunks):
            if index:
                out += ([legacy_tokens.LLAVA_IMAGE_INDEX] * (offset + 1))[offset:]
            out += chunk[offset:]
        return out

    return ids


def record(prompts: Path, out: Path) -> None:
    import transformers

    builders = {"med-flamingo": _med_flamingo, "radfm": _radfm, "llava-med": _llava_med}
    found: dict[str, dict[str, list[Any]]] = {family: {} for family in legacy_tokens.FAMILIES}
    with tempfile.TemporaryDirectory() as scratch:
        encode = {
            family: build(legacy_tokens.tokenizer_folder(family, Path(scratch))) for family, build in builders.items()
        }
        for line in prompts.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            ids = encode[row["family"]](row["text"])
            found[row["family"]][row["key"]] = [legacy_tokens.digest(row["text"]), ids]
    payload = {"transformers": transformers.__version__, **found}
    with gzip.open(out, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle, separators=(",", ":"))
    print(f"wrote {out}: " + ", ".join(f"{family} {len(rows)}" for family, rows in found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("tokenizer")
    dump = steps.add_parser("prompts")
    dump.add_argument("--out", type=Path, required=True)
    rec = steps.add_parser("record")
    rec.add_argument("--prompts", type=Path, required=True)
    rec.add_argument("--out", type=Path, default=legacy_tokens.DATA / "ids.json.gz")
    args = parser.parse_args()
    if args.step == "tokenizer":
        make_tokenizer()
    elif args.step == "prompts":
        dump_prompts(args.out)
    else:
        record(args.prompts, args.out)


if __name__ == "__main__":
    main()
