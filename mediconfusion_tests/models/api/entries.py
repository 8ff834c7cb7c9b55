"""The API backends and presets as registry entries, their factories, and the checks run before any request.

``openai:MODEL`` talks to OpenAI, or to Azure OpenAI when ``AZURE_OPENAI_ENDPOINT``
is set (MODEL is then the deployment name); ``anthropic:MODEL``; ``gemini[:MODEL]``;
``openai-compatible:MODEL@URL`` for vLLM, SGLang, TGI, Ollama or a router in front
of them. Presets: ``gpt-4o``, ``claude``, ``gemini``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import DataError, ModelSpecError
from mediconfusion_tests.models.api.secrets import Environment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import Model, ModelSpec

#: Current models of the paper's three API rows; the paper used GPT-4o 2024-05-13, Claude 3 Opus
#: (claude-3-opus-20240229) and Gemini 1.5 Pro: pass those names to openai:/anthropic:/gemini: to rerun them.
GPT_4O = "gpt-4o"
CLAUDE = "claude-sonnet-4-5"
GEMINI = "gemini-2.5-pro"
PAPER_VERSIONS = {"gpt-4o": "gpt-4o-2024-05-13", "claude": "claude-3-opus-20240229", "gemini": "gemini-1.5-pro"}


@dataclass(frozen=True)
class Target:
    backend: str  # openai | azure | compatible | anthropic | gemini
    model: str
    url: str | None = None


def target(spec: ModelSpec, env: Environment) -> Target:
    argument = spec.argument or ""
    if spec.name == "gpt-4o":
        return target_for("openai", GPT_4O, env)
    if spec.name == "claude":
        return Target("anthropic", CLAUDE)
    if spec.name == "gemini":
        return Target("gemini", argument or GEMINI)
    if spec.name == "openai-compatible":
        model, at, url = argument.rpartition("@")
        if not at or not model or not url.startswith(("http://", "https://")):
            raise ModelSpecError(
                f"--model={spec.raw}: expected openai-compatible:MODEL@URL, e.g. "
                "openai-compatible:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1"
            )
        return Target("compatible", model, url.rstrip("/"))
    return target_for(spec.name, argument, env)


def target_for(backend: str, model: str, env: Environment) -> Target:
    if backend == "openai" and env.get("AZURE_OPENAI_ENDPOINT") and not env.get("OPENAI_API_KEY"):
        return Target("azure", model)
    return Target(backend, model)


#: What each backend needs from the environment (any one of a group).
CREDENTIALS = {
    "openai": (("OPENAI_API_KEY",),),
    "azure": (("AZURE_OPENAI_API_KEY",), ("AZURE_OPENAI_ENDPOINT",)),
    "anthropic": (("ANTHROPIC_API_KEY",),),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"),),
    "compatible": (),
}
PACKAGES = {
    "openai": "openai",
    "azure": "openai",
    "compatible": "openai",
    "anthropic": "anthropic",
    "gemini": "google.genai",
}


def check(spec: ModelSpec, config: RunConfig) -> Target:
    """Before any worker starts (and any request): package, credentials, mode and price checks."""
    import importlib.util

    from mediconfusion_tests.models.api.client import ApiSettings, refuse_unknown_price

    env = Environment(config.env_file)
    found = target(spec, env)
    package = PACKAGES[found.backend]
    try:
        missing = importlib.util.find_spec(package) is None
    except ModuleNotFoundError:
        missing = True
    if missing:
        raise DataError(f"--model={spec.raw} needs the {package} package: pip install {package} (in the api extra)")
    for group in CREDENTIALS[found.backend]:
        if not any(env.get(name) for name in group):
            names = " or ".join(group)
            raise DataError(f"--model={spec.raw} needs {names} in {env.where()}")
    refuse_unknown_price(found.model, ApiSettings.from_config(config))
    if found.backend == "compatible" and config.mode == "prefix" and config.prefix_tokens == "paper":
        raise ModelSpecError(PAPER_PREFIX_REFUSED.format(spec=spec.raw))
    return found


#: Why a server cannot score prefix as the original harness did, and what it can score instead.
PAPER_PREFIX_REFUSED = (
    "--model={spec} --mode=prefix: --prefix-tokens=paper (the default) scores the original harness's "
    "sequence for the model's family, reading every option token's probability from the one position "
    "before the option; a server's prompt log-probabilities give each prompt token's probability at its "
    "own position only, so a served model cannot reproduce it, and a different score is not passed off "
    "as the paper's. Pass --prefix-tokens=context: the mean log-probability of the option's tokens as "
    "the server continues an assistant message, the same as an in-process run with --prefix-tokens=context."
)


def validate(spec: ModelSpec, config: RunConfig, pairs: Sequence[Pair]) -> dict[str, str]:
    check(spec, config)
    return {}


def make_api(spec: ModelSpec, config: RunConfig) -> Model:
    from mediconfusion_tests.models.api.client import ApiSettings

    env = Environment(config.env_file)
    found = check(spec, config)
    settings = ApiSettings.from_config(config)
    if found.backend in ("openai", "azure", "compatible"):
        from mediconfusion_tests.models.api.openai_chat import OpenAIChat

        return OpenAIChat(
            name=spec.raw, model_name=found.model, settings=settings, env=env, kind=found.backend, base_url=found.url
        )
    if found.backend == "anthropic":
        from mediconfusion_tests.models.api.anthropic_messages import AnthropicMessages

        return AnthropicMessages(name=spec.raw, model_name=found.model, settings=settings, env=env)
    from mediconfusion_tests.models.api.gemini_content import GeminiContent

    return GeminiContent(name=spec.raw, model_name=found.model, settings=settings, env=env)
