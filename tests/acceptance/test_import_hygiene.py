"""The plugin loads without torch, transformers or datasets, and pytest --help works without them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "datasets", "huggingface_hub", "tokenizers", "numpy")
BLOCK = "import sys\nfor name in {heavy!r}:\n    sys.modules[name] = None  # any import of it now fails\n"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_plugin_import_pulls_in_no_heavy_package() -> None:
    code = "import sys\nimport mediconfusion_tests.plugin.hooks\n"
    result = python(code + f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_works_with_heavy_packages_unavailable() -> None:
    result = python(
        BLOCK.format(heavy=HEAVY) + "import pytest\n" + "sys.exit(pytest.main(['--help', '-p', 'no:cacheprovider']))\n"
    )
    assert result.returncode == 0, result.stderr
    assert "--model=SPEC" in result.stdout
    assert "--gate=EXPR" in result.stdout


def test_baselines_run_with_heavy_packages_unavailable(tmp_path) -> None:
    result = python(
        BLOCK.format(heavy=("torch", "transformers", "datasets", "tokenizers"))
        + "import pytest\n"
        + "sys.exit(pytest.main(['--model=random', '--dataset=sample', '-q', '-p', 'no:cacheprovider',"
        + f" '--results-dir', {str(tmp_path)!r}, '--gate', 'set_accuracy>=0.1']))\n"
    )
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_model_needing_torch_says_what_to_install(tmp_path) -> None:
    result = python(
        BLOCK.format(heavy=("torch",))
        + "import pytest\n"
        + "sys.exit(pytest.main(['--model=demo', '-q', '-p', 'no:cacheprovider',"
        + f" '--results-dir', {str(tmp_path)!r}]))\n"
    )
    assert result.returncode != 0
    assert "cannot load model 'demo': this model needs torch and transformers (torch is missing)" in result.stdout
    assert "Traceback" not in result.stdout
