"""RadFM without a model: the published shapes, key checks, the split zip and its bounded extraction."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from radfm_tiny import VOCAB, published_tensors
from split_zips import write_split_zip

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.radfm import archive
from mediconfusion_tests.models.radfm.archive import SplitZip, split_parts

if TYPE_CHECKING:
    from pathlib import Path


from mediconfusion_tests.models.radfm.shapes import (
    LanguageShape,
    PerceiverShape,
    RadFMShape,
    VisionShape,
    check_keys,
    infer_shape,
)

#: The published model's sizes, as its checkpoint has them.
PUBLISHED = RadFMShape(
    LanguageShape(
        vocab=32000,
        hidden=5120,
        layers=40,
        heads=40,
        kv_heads=40,
        intermediate=13824,
        rms_norm_eps=1e-6,
        max_positions=2048,
        rope_theta=10000.0,
    ),
    VisionShape(dim=768, depth=12, dim_head=64, mlp_dim=2048, patch=32, rows=16, cols=16, frames=128),
    PerceiverShape(dim=768, latents=32, depth=6, dim_head=64, ff_dim=3072),
)


# -- the layout, without torch -----------------------------------------------------------------
def test_the_published_sizes_give_the_published_tensor_shapes() -> None:
    keys = PUBLISHED.expected()
    v = "embedding_layer.vision_encoder."
    p = "embedding_layer.perceiver."
    assert keys[v + "to_patch_embedding.1.weight"] == (12288,)
    assert keys[v + "to_patch_embedding.2.weight"] == (768, 12288)
    assert keys[v + "pos_embedding.row_embed.weight"] == (16, 256)
    assert keys[v + "pos_embedding.dep_embed.weight"] == (128, 256)
    assert keys[v + "transformer.layers.11.0.fn.to_qkv.weight"] == (1536, 768)
    assert keys[v + "transformer.layers.11.0.fn.to_out.0.weight"] == (768, 512)
    assert keys[v + "transformer.layers.11.1.fn.net.0.weight"] == (2048, 768)
    assert keys[p + "layers.5.0.to_q.weight"] == (512, 768)
    assert keys[p + "layers.5.0.to_kv.weight"] == (1024, 768)
    assert keys[p + "layers.5.0.to_out.weight"] == (768, 512)
    assert keys[p + "layers.5.1.1.weight"] == (3072, 768)
    assert keys["embedding_layer.fc.weight"] == (5120, 768)
    assert keys["embedding_layer.figure_token_weight"] == (2, 5120)
    assert keys["lang_model.model.layers.39.mlp.down_proj.weight"] == (5120, 13824)
    assert keys["lang_model.lm_head.weight"] == (32000, 5120)
    assert PUBLISHED.vision.image_size == 512
    assert PUBLISHED.image_tokens == 32
    assert infer_shape(keys) == PUBLISHED  # LLaMA-13B's head count is the default without a config.json


def test_the_tiny_layout_is_read_back_and_every_tensor_is_accounted_for() -> None:
    tensors = published_tensors(VOCAB)
    shape = infer_shape(tensors, {"num_attention_heads": 4})
    report = check_keys({**tensors, "lang_model.model.layers.0.self_attn.rotary_emb.inv_freq": (4,)}, shape)
    assert report.ok
    assert report.left_out == ["lang_model.model.layers.0.self_attn.rotary_emb.inv_freq"]
    assert set(report.used) == set(tensors)


def test_a_missing_an_unexpected_and_a_misshapen_tensor_are_named() -> None:
    tensors = published_tensors(VOCAB)
    shape = infer_shape(tensors, {"num_attention_heads": 4})
    broken = dict(tensors)
    del broken["embedding_layer.fc.bias"]
    broken["embedding_layer.extra_head.weight"] = (3, 3)
    broken["lang_model.model.norm.weight"] = (7,)
    report = check_keys(broken, shape)
    message = report.error("x/pytorch_model.bin")
    assert "missing: embedding_layer.fc.bias" in message
    assert "unexpected (neither used nor a known unused module): embedding_layer.extra_head.weight" in message
    assert "lang_model.model.norm.weight has shape [7], expected [32]" in message
    del broken["embedding_layer.perceiver.latents"]
    with pytest.raises(ModelError, match=r"missing tensor 'embedding_layer.perceiver.latents'"):
        infer_shape(broken, {"num_attention_heads": 4})


# -- the split zip ------------------------------------------------------------------------------
def test_split_parts_are_ordered_and_incomplete_sets_ignored() -> None:
    files = ["w.z02", "w.zip", "w.z01", "tokenizer.model", "other.z01", "other.zip", "gap.z02", "gap.zip"]
    assert sorted(split_parts(files)) == [["other.z01", "other.zip"], ["w.z01", "w.z02", "w.zip"]]


@pytest.mark.parametrize(("zip64", "stored"), [(False, False), (True, False), (True, True)])
def test_a_member_spanning_parts_is_extracted_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zip64: bool, stored: bool
) -> None:
    monkeypatch.setattr(archive, "CHUNK", 7)  # reads straddle part boundaries too
    monkeypatch.setattr(archive, "MARGIN", 0)
    weights = os.urandom(3000) + b"RadFM" * 400
    parts = write_split_zip(
        tmp_path, "RadFM", {"README": b"hello", "ckpt/pytorch_model.bin": weights}, 997, zip64, stored
    )
    assert len(parts) >= 4
    assert [p.name for p in parts][-2:] == [f"RadFM.z{len(parts) - 1:02d}", "RadFM.zip"]
    seen: list[tuple[int, int]] = []
    out = SplitZip(parts).extract(
        "pytorch_model.bin", tmp_path / "out" / "pytorch_model.bin", lambda d, t: seen.append((d, t))
    )
    assert out.read_bytes() == weights
    assert seen[-1] == (len(weights), len(weights))
    assert not list((tmp_path / "out").glob(".*"))  # no scratch file left


def test_a_damaged_or_incomplete_split_zip_is_refused(tmp_path: Path) -> None:
    parts = write_split_zip(tmp_path, "W", {"pytorch_model.bin": os.urandom(4000)}, 1000, zip64=True, stored=True)
    with pytest.raises(ModelError, match="the archive says it has 5 parts, 4 were given"):
        SplitZip(parts[1:])
    damaged = bytearray(parts[1].read_bytes())
    damaged[500] ^= 0xFF
    parts[1].write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match="a part is damaged; download it again"):
        SplitZip(parts).extract("pytorch_model.bin", tmp_path / "w.bin")
    assert not (tmp_path / "w.bin").exists()
    with pytest.raises(ModelError, match=r"no member 'config\.json'"):
        SplitZip(parts).member("config.json")


def test_not_enough_disk_space_says_how_much_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = write_split_zip(tmp_path, "W", {"pytorch_model.bin": b"x" * 100}, 60)
    monkeypatch.setattr(archive, "MARGIN", 10**15)
    with pytest.raises(ModelError, match=r"extracting pytorch_model.bin needs 1000000\.0 GB free in .*GB are free"):
        SplitZip(parts).extract("pytorch_model.bin", tmp_path / "w.bin")


def test_extraction_holds_at_most_a_chunk_in_memory_and_writes_no_more_than_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member of 256 KiB of zeros (a few hundred compressed bytes): each inflate call gives at most a
    chunk; declared smaller than it inflates, extraction stops at the declared size; declared beyond what
    deflate can produce, nothing is written at all."""
    import tracemalloc

    monkeypatch.setattr(archive, "CHUNK", 4096)
    monkeypatch.setattr(archive, "MARGIN", 0)
    zeros = bytes(256 * 1024)
    parts = write_split_zip(tmp_path, "Z", {"pytorch_model.bin": zeros}, 10**6)
    tracemalloc.start()
    out = SplitZip(parts).extract("pytorch_model.bin", tmp_path / "ok.bin")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.read_bytes() == zeros
    assert peak < 128 * 1024  # one decompress of the member's single compressed chunk allocates its 256 KiB

    def declaring(size: int) -> SplitZip:
        archive_ = SplitZip(parts)
        member = archive_.members[0]
        archive_.members = [archive.Member(member.name, member.method, member.compressed, size, member.crc,
                                           member.disk, member.offset)]  # fmt: skip
        return archive_

    written: list[int] = []
    with pytest.raises(ModelError, match="inflates past the 10000 bytes its directory declares"):
        declaring(10_000).extract("pytorch_model.bin", tmp_path / "bomb.bin", lambda done, _: written.append(done))
    assert max(written) <= 10_000
    assert not (tmp_path / "bomb.bin").exists()
    assert not list(tmp_path.glob(".bomb.bin*"))
    compressed = declaring(10).members[0].compressed
    with pytest.raises(ModelError, match="more than its compression can produce"):
        declaring(compressed * 2000).extract("pytorch_model.bin", tmp_path / "big.bin")
    assert not list(tmp_path.glob("*big.bin*"))
