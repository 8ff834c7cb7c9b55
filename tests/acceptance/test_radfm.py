"""RadFM: the published layout, strict loading, the forward pass, the tokens, the split zip, the four modes.

A tiny checkpoint in the published layout (tests/radfm_tiny.py) goes through the
same code users run (`--model=radfm:PATH`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from helpers import dtype_options, read_results
from radfm_tiny import GRID, LATENTS, PATCH, VOCAB, build_tiny_radfm, published_tensors
from split_zips import write_split_zip

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.radfm.shapes import infer_shape

if TYPE_CHECKING:
    from collections.abc import Iterator

COMMIT = "c" * 40
SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider", *dtype_options())


# -- with torch: the network, the forward pass, loading ----------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module; imports what the inline runs use first, because pytester's inline runs drop
    modules first imported inside them and torch cannot be imported twice in one process."""
    pytest.importorskip("torch")
    pytest.importorskip("sentencepiece")
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: F401

    import mediconfusion_tests.models.radfm.adapter
    import mediconfusion_tests.models.radfm.network  # noqa: F401

    return build_tiny_radfm(tmp_path_factory.mktemp("radfm")).folder


def literal_image_embeddings(state: dict, image: Any) -> Any:
    """The image's 32 (here 4) token embeddings, written out step by step from the published model's math."""
    import torch
    import torch.nn.functional as F

    s = {k.removeprefix("embedding_layer."): v.double() for k, v in state.items() if k.startswith("embedding_layer.")}
    scan = image.double()  # (3, H, W, 4)
    rows = scan.shape[1] // PATCH
    patches, positions = [], []
    for r in range(rows):
        for c in range(rows):
            cube = scan[:, r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH, :]  # (c, p1, p2, pf)
            patches.append(cube.permute(1, 2, 3, 0).reshape(-1))  # (p1 p2 pf c)
            depth_slot = s["vision_encoder.pos_embedding.dep_embed.weight"].shape[0] - 1  # one slot: the last
            positions.append(
                torch.cat(
                    [
                        s["vision_encoder.pos_embedding.row_embed.weight"][r],
                        s["vision_encoder.pos_embedding.col_embed.weight"][c],
                        s["vision_encoder.pos_embedding.dep_embed.weight"][depth_slot],
                    ]
                )
            )
    x = torch.stack(patches)

    def ln(t: torch.Tensor, key: str) -> torch.Tensor:
        return F.layer_norm(t, t.shape[-1:], s[key + ".weight"], s[key + ".bias"])

    def lin(t: torch.Tensor, key: str, bias: bool = True) -> torch.Tensor:
        return t @ s[key + ".weight"].T + (s[key + ".bias"] if bias else 0)

    x = ln(
        lin(ln(x, "vision_encoder.to_patch_embedding.1"), "vision_encoder.to_patch_embedding.2"),
        "vision_encoder.to_patch_embedding.3",
    ) + torch.stack(positions)

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
        qs, ks, vs = (t.chunk(heads, dim=-1) for t in (q, k, v))
        return torch.cat(
            [
                torch.softmax(qh @ kh.T / qh.shape[-1] ** 0.5, dim=-1) @ vh
                for qh, kh, vh in zip(qs, ks, vs, strict=True)
            ],
            dim=-1,
        )

    layer = 0
    while f"vision_encoder.transformer.layers.{layer}.0.norm.weight" in s:
        pre = f"vision_encoder.transformer.layers.{layer}."
        q, k, v = lin(ln(x, pre + "0.norm"), pre + "0.fn.to_qkv", bias=False).chunk(3, dim=-1)
        x = lin(attend(q, k, v, 8), pre + "0.fn.to_out.0") + x
        hidden = F.gelu(lin(ln(x, pre + "1.norm"), pre + "1.fn.net.0"))
        x = lin(hidden, pre + "1.fn.net.3") + x
        layer += 1
    latents, layer = s["perceiver.latents"], 0
    while f"perceiver.layers.{layer}.0.to_q.weight" in s:
        pre = f"perceiver.layers.{layer}."
        media, lat = ln(x, pre + "0.norm_media"), ln(latents, pre + "0.norm_latents")
        k, v = lin(torch.cat([media, lat]), pre + "0.to_kv", bias=False).chunk(2, dim=-1)
        latents = lin(attend(lin(lat, pre + "0.to_q", bias=False), k, v, 8), pre + "0.to_out", bias=False) + latents
        hidden = F.gelu(lin(ln(latents, pre + "1.0"), pre + "1.1", bias=False))
        latents = lin(hidden, pre + "1.3", bias=False) + latents
        layer += 1
    return lin(ln(latents, "perceiver.norm"), "fc")


def test_the_forward_pass_computes_the_published_math(tiny: Path, sample_dir: Path) -> None:
    import torch

    from mediconfusion_tests.models.radfm.adapter import scan
    from mediconfusion_tests.models.radfm.checkpoint import load_checkpoint, open_state
    from mediconfusion_tests.models.radfm.tokens import RadFMTokens

    state = dict(open_state(tiny / "pytorch_model.bin"))
    model = load_checkpoint(tiny, torch.float32, "cpu").model
    tokens = RadFMTokens(tiny / "tokenizer.model", VOCAB, LATENTS)
    images = [scan(str(sample_dir / "images" / f"{n}.jpg"), PATCH * GRID, 4) for n in (90001, 90007)]
    ids = torch.tensor([tokens.prompt("Is there a fracture?")] * 2)
    with torch.no_grad():
        embeds = model.embed(ids, torch.stack(images))
    for row, image in enumerate(images):
        expected = literal_image_embeddings(state, image)
        placeholders = embeds[row, 2 : 2 + LATENTS].double()
        # float32 against float64: agreement to about 1e-5 of values of order 1.
        assert torch.allclose(placeholders, expected, rtol=1e-4, atol=1e-4), (placeholders - expected).abs().max()
        assert torch.equal(embeds[row, 1], state["embedding_layer.figure_token_weight"][0])  # <image>
        assert torch.equal(embeds[row, 2 + LATENTS], state["embedding_layer.figure_token_weight"][1])  # </image>
        text = ids[row, 3 + LATENTS :]
        assert torch.equal(embeds[row, 3 + LATENTS :], state["embedding_layer.weight"][text])
    assert not torch.allclose(embeds[0, 2 : 2 + LATENTS], embeds[1, 2 : 2 + LATENTS])  # each row its own image


def test_vision_features_are_the_mean_of_the_placeholder_embeddings_the_llama_receives(
    tiny: Path, sample_dir: Path
) -> None:
    import torch
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.radfm.adapter import RadFMModel, make_radfm, scan

    spec = ModelSpec(raw=f"radfm:{tiny}", name="radfm", argument=str(tiny))
    model = make_radfm(spec, RunConfig(model=spec.raw, device="cpu", dtype="fp32"))
    assert isinstance(model, RadFMModel)
    assert model.image_feature_pooling() is not None
    files = [sample_dir / "images" / f"{n}.jpg" for n in (90001, 90007)]
    features = model.image_features([Image.open(f) for f in files])
    assert features.shape == (2, model.shape.language.hidden)
    ids = torch.tensor([model.tokens.prompt("Is there a fracture?")] * 2)
    with torch.no_grad():
        embeds = model.model.embed(ids, torch.stack([scan(str(f), PATCH * GRID, 4) for f in files]))
    received = embeds[:, 2 : 2 + LATENTS].mean(1).numpy()
    assert abs(features - received).max() < 1e-5


def test_fused_attention_is_opt_in_and_changes_only_the_last_bits(tiny: Path, sample_dir: Path) -> None:
    """By default the vision and perceiver attention is the authors' unfused arithmetic (bit for bit);
    --attn-implementation=sdpa fuses it and hands the name to the LLaMA."""
    import torch

    from mediconfusion_tests.models.radfm.adapter import scan
    from mediconfusion_tests.models.radfm.checkpoint import load_checkpoint
    from mediconfusion_tests.models.radfm.network import LatentAttention, SelfAttention
    from mediconfusion_tests.models.radfm.tokens import RadFMTokens

    model = load_checkpoint(tiny, torch.float32, "cpu").model
    attention = [m for m in model.modules() if isinstance(m, (SelfAttention, LatentAttention))]
    assert attention
    assert not any(m.fused for m in attention)
    tokens = RadFMTokens(tiny / "tokenizer.model", VOCAB, LATENTS)
    images = torch.stack([scan(str(sample_dir / "images" / f"{n}.jpg"), PATCH * GRID, 4) for n in (90001, 90007)])
    ids = torch.tensor([tokens.prompt("Is there a fracture?")] * 2)
    with torch.no_grad():
        unfused = model.embed(ids, images)
        model.use_attention(None)  # nothing asked: nothing changes
        assert torch.equal(model.embed(ids, images), unfused)
        model.use_attention("sdpa")
        assert all(m.fused for m in attention)
        assert model.lang_model.config._attn_implementation == "sdpa"
        fused = model.embed(ids, images)
        model.use_attention("eager")
        assert not any(m.fused for m in attention)
        assert torch.equal(model.embed(ids, images), unfused)
    assert torch.allclose(fused, unfused, atol=1e-5)


@pytest.mark.parametrize("kind", ["not-torch", "code"])
def test_a_file_that_is_not_a_checkpoint_is_refused_in_one_line_without_running_it(
    tiny: Path, pytester: pytest.Pytester, kind: str
) -> None:
    import shutil

    import torch

    folder = pytester.path / "hostile"
    shutil.copytree(tiny, folder)
    marker = pytester.path / "ran"
    if kind == "not-torch":
        (folder / "pytorch_model.bin").write_bytes(os.urandom(4096))
    else:
        torch.save({"weights": torch.zeros(2), "payload": _Payload(str(marker))}, folder / "pytorch_model.bin")
    result = run(pytester, f"--model=radfm:{folder}", "--no-store", "--tb=long")
    terminal = result.stdout.str() + result.stderr.str()
    assert result.ret == 1
    assert not marker.exists()
    assert "weights_only=False" not in terminal
    assert "weights_only` set to `False" not in terminal
    assert "Traceback" not in terminal
    line = next(line for line in terminal.splitlines() if "is not a RadFM checkpoint" in line)
    assert f"{folder / 'pytorch_model.bin'} is not a RadFM checkpoint: " in line
    if kind == "code":
        assert "it holds Python objects, not only tensors" in line


class _Payload:
    """Pickles to a call that would create a file: it must never run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (self.path,))


# -- through the suite ------------------------------------------------------------------------------
def run(pytester: pytest.Pytester, *args: str, workers: str | None = None) -> pytest.RunResult:
    if workers is None:
        return pytester.runpytest(*args, *SAMPLE)
    return pytester.runpytest_subprocess(*args, *SAMPLE, "-n", workers)


def decisions(pytester: pytest.Pytester) -> list[list[str | None]]:
    return [[a["decision"] for a in p["answers"]] for p in read_results(pytester.path)["pairs"]]


@pytest.mark.parametrize("mode", ["mc", "greedy", "prefix"])
def test_every_mode_runs_through_the_suite_and_batching_changes_no_decision(
    tiny: Path, pytester: pytest.Pytester, mode: str
) -> None:
    spec = f"--model=radfm:{tiny}"
    one = run(pytester, spec, f"--mode={mode}", "--batch-size=1", "--no-store")
    assert one.ret in (0, 1), one.stdout.str()[-2000:]
    first = read_results(pytester.path)
    assert first["counts"]["pairs_scored"] == 16
    assert first["model"]["instances"]["main"]["class"] == "RadFM"
    alone = decisions(pytester)
    run(pytester, spec, f"--mode={mode}", "--batch-size=8", "--no-store")
    assert decisions(pytester) == alone
    if mode != "mc":
        assert all(d in ("A", "B") for pair in alone for d in pair)
    if mode == "greedy":  # one mode is enough to show that workers change nothing either
        run(pytester, spec, f"--mode={mode}", "--batch-size=4", "--no-store", workers="2")
        assert decisions(pytester) == alone


def test_freeform_is_judged(tiny: Path, pytester: pytest.Pytester) -> None:
    result = run(pytester, f"--model=radfm:{tiny}", "--mode=freeform", "--judge=always-a", "--no-store")
    assert result.ret in (0, 1), result.stdout.str()[-2000:]
    answers = [a for p in read_results(pytester.path)["pairs"] for a in p["answers"]]
    assert all(isinstance(a["raw"], str) for a in answers)


def test_a_folder_without_the_tokenizer_is_refused_before_collection(tiny: Path, pytester: pytest.Pytester) -> None:
    folder = pytester.path / "incomplete"
    folder.mkdir()
    (folder / "pytorch_model.bin").symlink_to(tiny / "pytorch_model.bin")
    result = pytester.runpytest(f"--model=radfm:{folder}", "--collect-only", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lacks tokenizer.model (LLaMA's sentencepiece model*hf download chaoyi-wu/RadFM*"])


def test_collect_only_offline_says_what_is_missing_and_how_to_get_it(pytester: pytest.Pytester, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "MEDICONFUSION_CACHE": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--model=radfm", "--collect-only", *SAMPLE],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "RadFM is not cached and the hub is not asked (HF_HUB_OFFLINE is set)" in done.stderr
    assert "hf download chaoyi-wu/RadFM --local-dir RADFM_DIR" in done.stderr
    assert "--model=radfm:RADFM_DIR" in done.stderr


def test_device_map_spreads_the_model_with_accelerate_or_says_to_install_it(
    tiny: Path, pytester: pytest.Pytester
) -> None:
    spec = f"--model=radfm:{tiny}"
    mapped = run(pytester, spec, "--mode=greedy", "--device-map=auto", "--no-store")
    try:
        import accelerate  # noqa: F401
    except ImportError:
        assert mapped.ret == 1
        mapped.stdout.fnmatch_lines(
            ["PROBLEM: the model could not be loaded: --device-map with RadFM needs accelerate*"]
        )
        return
    assert mapped.ret in (0, 1), mapped.stdout.str()[-2000:]
    spread = decisions(pytester)
    run(pytester, spec, "--mode=greedy", "--no-store")
    assert decisions(pytester) == spread


# -- with torch: the network, the forward pass, loading ----------------------------------------------


def test_our_module_tree_has_exactly_the_published_names(tiny: Path) -> None:
    import torch

    from mediconfusion_tests.models.radfm.checkpoint import open_state
    from mediconfusion_tests.models.radfm.network import build

    shapes = {k: tuple(v.shape) for k, v in open_state(tiny / "pytorch_model.bin").items()}
    shape = infer_shape(shapes, {"num_attention_heads": 4})
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in build(shape).state_dict().items()}
    published = published_tensors(VOCAB)
    assert ours == {k: v for k, v in published.items() if k != "embedding_layer.weight"}
    assert {k: v for k, v in shape.expected().items()} == published


def test_prompt_ids_follow_the_published_layout(tiny: Path) -> None:
    from mediconfusion_tests.models.radfm.tokens import RadFMTokens

    tokens = RadFMTokens(tiny / "tokenizer.model", VOCAB, LATENTS)
    ids = tokens.prompt("Answer: ")
    assert ids[: 3 + LATENTS] == [1, VOCAB, *range(VOCAB + 2, VOCAB + 2 + LATENTS), VOCAB + 1]
    assert ids[3 + LATENTS :] == tokens.processor.encode("Answer: ")
    assert tokens.placeholders(1)[1] == VOCAB + 2 + LATENTS
    assert tokens.processor.id_to_piece(tokens.letter("A")) == "\u2581A"
    assert tokens.decode([1, tokens.letter("B"), 2, VOCAB, VOCAB + 5]) == "B"
    with pytest.raises(ModelError, match="has 320 pieces but the checkpoint's vocabulary has 32000"):
        RadFMTokens(tiny / "tokenizer.model", 32000, 32)


def test_strict_loading_names_the_tensor_at_fault(tiny: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    from mediconfusion_tests.models.radfm.checkpoint import load_checkpoint, open_state

    state = dict(open_state(tiny / "pytorch_model.bin"))
    for change, message in (
        (lambda s: s.pop("embedding_layer.vision_encoder.to_patch_embedding.3.bias"), "missing: embedding_layer"),
        (lambda s: s.update({"embedding_layer.mystery.weight": torch.ones(2)}), "unexpected .*mystery"),
        (lambda s: s.update({"embedding_layer.fc.bias": torch.ones(5)}), r"fc.bias has shape \[5\], expected \[32\]"),
        (
            lambda s: s.update({"embedding_layer.weight": torch.zeros(VOCAB, 32)}),
            "embedding_layer.weight and lang_model.model.embed_tokens.weight differ",
        ),
    ):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        shutil.copytree(tiny, folder)
        broken = dict(state)
        change(broken)  # type: ignore[no-untyped-call]
        torch.save(broken, folder / "pytorch_model.bin")
        with pytest.raises(ModelError, match=message):
            load_checkpoint(folder, torch.float32, "cpu")


def test_a_folder_holding_the_split_zip_is_extracted_once(tiny: Path, tmp_path: Path) -> None:
    from mediconfusion_tests.models.radfm.files import from_folder

    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "tokenizer.model").write_bytes((tiny / "tokenizer.model").read_bytes())
    weights = (tiny / "pytorch_model.bin").read_bytes()
    write_split_zip(folder, "pytorch_model", {"pytorch_model.bin": weights}, len(weights) // 3, zip64=True)
    files = from_folder(folder)
    assert files.weights.read_bytes() == weights
    stamp = files.weights.stat().st_mtime_ns
    assert from_folder(folder).weights.stat().st_mtime_ns == stamp  # not extracted again
    assert json.loads(json.dumps(files.version))


class FakeModelHub(BaseHTTPRequestHandler):
    """Plays the Hugging Face hub for chaoyi-wu/RadFM: the model's listing and its files at one commit."""

    files: ClassVar[dict[str, bytes]] = {}
    downloads: ClassVar[list[str]] = []

    def _file(self, body: bool) -> None:
        prefix = f"/chaoyi-wu/RadFM/resolve/{COMMIT}/"
        name = self.path.removeprefix(prefix)
        if not self.path.startswith(prefix) or name not in self.files:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        content = self.files[name]
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.downloads.append(name)
            self.wfile.write(content)

    def do_HEAD(self) -> None:
        self._file(body=False)

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/api/models/chaoyi-wu/RadFM", "/api/models/chaoyi-wu/RadFM/revision/main"):
            listing = json.dumps(
                {"id": "chaoyi-wu/RadFM", "sha": COMMIT, "siblings": [{"rfilename": n} for n in self.files]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(listing)))
            self.end_headers()
            self.wfile.write(listing)
            return
        self._file(body=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_hub(tiny: Path, tmp_path: Path) -> Iterator[str]:
    """The published layout on a local hub: the weights as a three-part split zip, the tokenizer in a folder."""
    weights = (tiny / "pytorch_model.bin").read_bytes()
    zips = tmp_path / "zips"
    zips.mkdir()
    parts = write_split_zip(zips, "RadFM", {"pytorch_model.bin": weights}, len(weights) // 3, zip64=True)
    FakeModelHub.files = {p.name: p.read_bytes() for p in parts} | {
        "Language_files/tokenizer.model": (tiny / "tokenizer.model").read_bytes(),
        "Language_files/config.json": (tiny / "config.json").read_bytes(),
        "README.md": b"RadFM",
    }
    FakeModelHub.downloads = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModelHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def fetch(env: dict[str, str], cache: Path) -> dict[str, str]:
    """from_hub in a fresh process: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when imported."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from mediconfusion_tests.models.radfm.files import from_hub\n"
        f"files = from_hub(Path({str(cache)!r}))\n"
        "print(json.dumps({k: str(v) for k, v in vars(files).items()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_hub_checkpoint_is_downloaded_extracted_once_and_then_runs_offline(
    model_hub: str, tiny: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "HF_ENDPOINT": model_hub, "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hub")}
    files = fetch(env, tmp_path / "cache")
    folder = tmp_path / "cache" / "radfm" / COMMIT
    assert files["folder"] == str(folder)
    assert Path(files["weights"]).read_bytes() == (tiny / "pytorch_model.bin").read_bytes()
    assert Path(files["tokenizer"]).read_bytes() == (tiny / "tokenizer.model").read_bytes()
    assert (folder / "config.json").is_file()
    assert files["version"] == f"chaoyi-wu/RadFM@{COMMIT}"
    parts = sorted(name for name in FakeModelHub.files if name.startswith("RadFM."))
    assert len(parts) >= 3
    assert sorted(FakeModelHub.downloads) == sorted(
        [*parts, "Language_files/tokenizer.model", "Language_files/config.json"]
    )
    FakeModelHub.downloads.clear()
    assert fetch(env, tmp_path / "cache")["weights"] == files["weights"]  # online again: nothing fetched twice
    assert FakeModelHub.downloads == []
    for part in (tmp_path / "hub").rglob("RadFM.z*"):
        part.unlink()  # the parts may be deleted once extracted
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    assert fetch(offline, tmp_path / "cache")["weights"] == files["weights"]
