"""API and served models through the official SDKs, against a stand-in server on 127.0.0.1 (tests/fake_api.py).

Each backend's request shape, the modes, retries (429 with Retry-After, 500,
timeouts), malformed replies, refusals, concurrency, the run budget, the judge,
and that no key reaches any file. The stand-in answers with the demo model for
the comparison with the same model run in-process.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from fake_api import Action, FakeAPI, ModelResponder, ScriptedResponder
from helpers import read_results, read_run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
genai = pytest.importorskip("google.genai")

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider", "--no-store")
KEYS = {
    "OPENAI_API_KEY": "sk-test-OPENAI-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-test-ANTHROPIC-0123456789",
    "GEMINI_API_KEY": "gemini-test-GEMINI-0123456789",
}


@pytest.fixture
def scripted() -> Iterator[FakeAPI]:
    with FakeAPI(ScriptedResponder("A")) as api:
        yield api


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch, scripted: FakeAPI) -> FakeAPI:
    """Every SDK pointed at the stand-in, with keys in the environment."""
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_BASE_URL", "MEDICONFUSION_BUDGET_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.url + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", scripted.url)
    monkeypatch.setenv("GEMINI_BASE_URL", scripted.url)
    return scripted


def pairs_of(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    return list(read_results(pytester.path)["pairs"])


def answers_of(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    return [a for p in pairs_of(pytester) for a in p["answers"]]


# -- the backends ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "path", "key"),
    [
        ("gpt-4o", "/v1/chat/completions", "OPENAI_API_KEY"),
        ("openai:gpt-4o-mini", "/v1/chat/completions", "OPENAI_API_KEY"),
        ("claude", "/v1/messages", "ANTHROPIC_API_KEY"),
        ("anthropic:claude-3-opus-20240229", "/v1/messages", "ANTHROPIC_API_KEY"),
        ("gemini", "/models/gemini-2.5-pro:generateContent", "GEMINI_API_KEY"),
    ],
)
def test_each_backend_sends_the_image_inline_and_records_the_request_without_it(
    clients: FakeAPI, pytester: pytest.Pytester, spec: str, path: str, key: str
) -> None:
    result = pytester.runpytest(f"--model={spec}", "--limit=2", *SAMPLE)
    assert result.ret == 1, result.stdout.str()[-2000:]  # the stand-in always answers A: confused pairs
    assert len({r["path"] for r in clients.requests}) == 1
    assert clients.requests[0]["path"].endswith(path)
    assert len(clients.requests) == 4
    assert all(any(KEYS[key] in value for value in r["headers"].values()) for r in clients.requests)
    body = json.dumps(clients.requests[0]["body"])
    assert "/9j/" in body or "_9j_" in body  # the JPEG's base64 (Gemini's SDK: the URL-safe alphabet), inline
    answers = answers_of(pytester)
    assert all(a["decision"] == "A" for a in answers)
    recorded = json.dumps(answers[0]["meta"]["request"])
    assert "image/jpeg image" in recorded
    assert "/9j/" not in recorded
    usage = read_results(pytester.path)["usage"]
    assert (usage["tokens_in"], usage["tokens_out"], usage["requests"]) == (44, 12, 4)


def test_azure_is_used_when_its_endpoint_is_set(clients: FakeAPI, pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", clients.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-0123456789abcdef")
    pytester.runpytest("--model=openai:my-gpt4o-deployment", "--limit=1", *SAMPLE)
    assert clients.requests[0]["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert clients.requests[0]["headers"].get("api-key") == "azure-test-0123456789abcdef"


def test_a_mode_a_backend_cannot_do_fails_before_any_request(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=claude", "--mode=greedy", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*model 'claude' does not support --mode=greedy; it supports freeform, mc*"])
    assert clients.requests == []


def test_a_missing_key_is_named_before_any_request(
    clients: FakeAPI, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = pytester.runpytest("--model=claude", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model=claude needs ANTHROPIC_API_KEY in the environment*--env-file*"])
    assert clients.requests == []


# -- retries, timeouts, malformed replies, refusals -------------------------------------------------
def test_429_with_retry_after_and_500_are_retried(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    clients.script.extend([Action("status", 429, {"Retry-After": "0.2"}), Action("status", 500), Action("status", 503)])
    result = pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", *SAMPLE)
    assert result.ret == 1
    answers = answers_of(pytester)
    assert [a["decision"] for a in answers] == ["A", "A"]
    # The other image's request goes out while one waits, so the scripted failures fall on both.
    retried = sorted(e.split(":")[0] for a in answers for e in a["meta"].get("retried", []))
    assert retried == ["InternalServerError 500", "InternalServerError 503", "RateLimitError 429"]
    assert sum(a["meta"].get("attempts", 1) for a in answers) == 5
    assert len(clients.requests) == 5


def test_a_request_past_its_timeout_is_sent_again(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    clients.script.append(Action("hang", seconds=3.0))
    result = pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", "--request-timeout=0.5", *SAMPLE)
    assert result.ret == 1
    first = answers_of(pytester)[0]
    assert first["decision"] == "A"
    assert first["meta"]["retried"] == ["no reply within 0.5 s (--request-timeout)"]


def test_retries_run_out_and_malformed_replies_are_model_errors_of_their_pair(
    clients: FakeAPI, pytester: pytest.Pytester
) -> None:
    clients.always = Action("status", 500)
    result = pytester.runpytest("--model=gpt-4o", "--limit=1", "--max-retries=2", *SAMPLE)
    assert result.ret == 1
    error = pairs_of(pytester)[0]["error"]
    assert "gpt-4o: the request failed after 3 attempts: InternalServerError 500" in error
    assert len(clients.requests) == 6  # two images, three attempts each
    result.stdout.fnmatch_lines(["PROBLEM: 1 pair(s) had model errors: 90101"])
    clients.requests.clear()
    clients.always = Action("malformed")
    pytester.runpytest("--model=gpt-4o", "--limit=1", *SAMPLE)
    assert "the request failed and was not retried" in pairs_of(pytester)[0]["error"]
    assert len(clients.requests) == 2


@pytest.mark.parametrize("spec", ["gpt-4o", "claude", "gemini"])
def test_a_refusal_is_an_invalid_answer_with_its_words_not_an_error(
    clients: FakeAPI, pytester: pytest.Pytester, spec: str
) -> None:
    clients.script.append(Action("refuse", text="I'm unable to view medical images."))
    pytester.runpytest(f"--model={spec}", "--limit=1", "--concurrency=1", *SAMPLE)
    pair = pairs_of(pytester)[0]
    assert pair["status"] == "failed"
    assert pair["failure_class"] == "invalid"
    refused = next(a for a in pair["answers"] if a["meta"].get("refusal"))
    assert refused["decision"] is None
    if spec != "gemini":  # Gemini blocks without words: an empty answer with its reason
        assert refused["raw"] == "I'm unable to view medical images."
    assert len(clients.requests) == 2  # not retried


# -- concurrency and the run budget -------------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_bounds_the_requests_in_flight(
    clients: FakeAPI, pytester: pytest.Pytester, concurrency: int
) -> None:
    clients.delay = 0.25
    pytester.runpytest("--model=gpt-4o", "--limit=8", f"--concurrency={concurrency}", *SAMPLE)
    assert len(clients.requests) == 16
    assert clients.max_in_flight == concurrency
    instance = read_results(pytester.path)["model"]["instances"]["main"]
    assert instance["max_in_flight"] == concurrency


@pytest.mark.parametrize("workers", [None, "2"])
def test_the_request_budget_stops_the_run_cleanly_with_what_was_answered(
    clients: FakeAPI, pytester: pytest.Pytester, workers: str | None
) -> None:
    args = ("--model=gpt-4o", "--concurrency=1", "--max-requests=5", "--batch-size=2", *SAMPLE)
    result = pytester.runpytest(*args) if workers is None else pytester.runpytest_subprocess(*args, "-n", workers)
    assert result.ret == 1
    assert len(clients.requests) == 5  # the whole run's budget, whatever the number of workers
    run = read_run(pytester.path)
    assert run["run"]["complete"] is False
    answered = [p for p in run["pairs"] if p["status"] in ("passed", "failed")]
    assert 1 <= len(answered) <= 2
    stop = next(p for p in run["problems"] if p.startswith("the run was stopped"))
    assert "the request budget is spent (5 requests, --max-requests)" in stop
    assert f"{16 - len(answered)} pair(s) were not answered" in stop
    assert result.stdout.lines[-1] == "exit 1: the run was stopped by its budget; the results are partial"


def test_max_cost_needs_a_known_price_and_the_spend_is_recorded(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    refused = pytester.runpytest("--model=openai:my-own-model", "--max-cost=1", *SAMPLE)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--max-cost needs the price of 'my-own-model'*--max-requests*"])
    pytester.runpytest("--model=gpt-4o", "--limit=2", "--max-cost=1", *SAMPLE)
    usage = read_results(pytester.path)["usage"]
    assert usage["cost_usd"] == pytest.approx(4 * (11 * 2.5 + 3 * 10.0) / 1e6)


# -- secrets --------------------------------------------------------------------------------------
def test_no_key_reaches_any_file(clients: FakeAPI, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("allure_pytest")
    for name in KEYS:
        monkeypatch.delenv(name)
    env_file = pytester.path / "secrets.env"
    env_file.write_text("".join(f'export {name}="{value}"\n' for name, value in KEYS.items()))
    # The server echoes the key in an error, as some providers do for a bad one.
    clients.script.append(Action("status", 401, text=f"Incorrect API key provided: {KEYS['OPENAI_API_KEY']}"))
    result = pytester.runpytest(
        "--model=gpt-4o",
        "--limit=3",
        "--concurrency=1",
        f"--env-file={env_file}",
        "--alluredir=allure",
        "--junitxml=junit.xml",
        "--dataset=sample",
        "-p",
        "no:cacheprovider",
    )
    assert any(r["headers"].get("authorization") == f"Bearer {KEYS['OPENAI_API_KEY']}" for r in clients.requests)
    error = next(p["error"] for p in pairs_of(pytester) if p["status"] == "error")
    assert "Incorrect API key provided: ***" in error
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p != env_file]
    assert any(p.name == "answers.sqlite" for p in written)
    assert any(p.suffix == ".html" for p in written)
    for path in written:
        data = path.read_bytes()
        for value in KEYS.values():
            assert value.encode() not in data, f"{value} leaked into {path}"
    assert all(value not in result.stdout.str() + result.stderr.str() for value in KEYS.values())


# -- the judge ----------------------------------------------------------------------------------------
def test_freeform_defaults_to_the_gpt4o_judge_retries_an_unreadable_verdict_once_and_records_it(
    clients: FakeAPI, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unreadable(ScriptedResponder):
        """Answers freely; the judge's first two verdicts (one per image) cannot be read."""

        judged = 0

        def generate(self, request: Any) -> str:
            if not request.judge:
                return "I see an intact bone."
            self.judged += 1
            if self.judged <= 2:
                return "Both are plausible."
            return "A: 9\nB: 1\nYour explanation: close to A."

    clients.responder = Unreadable()
    pytester.runpytest("--model=claude", "--mode=freeform", "--limit=1", *SAMPLE)
    results = read_results(pytester.path)
    assert results["config"]["judge"] == "gpt-4o"
    judge = results["judge"]
    assert (judge["spec"], judge["prompt"], judge["temperature"], judge["threshold"]) == ("gpt-4o", "builtin", 0.0, 3.0)
    answer = results["pairs"][0]["answers"][0]
    assert answer["scores"] == {"A": 9.0, "B": 1.0}
    assert answer["decision"] == "A"
    assert answer["meta"]["judge_first"] == "Both are plausible."
    judged = [r for r in clients.requests if r["path"] == "/v1/chat/completions"]
    assert len(judged) == 4  # two answers, each judged twice


def test_the_paper_prompt_file_gives_the_judge_its_instruction_and_temperature(
    clients: FakeAPI, pytester: pytest.Pytester, shared_dir: Path
) -> None:
    prompts = shared_dir / "paper_prompts.json"
    pytester.runpytest("--model=claude", "--mode=freeform", "--limit=1", f"--prompts={prompts}", *SAMPLE)
    judge = read_results(pytester.path)["judge"]
    assert judge["temperature"] == 0.7
    assert "how close the AI assistant's answer is to each of the answers" in judge["instruction"]
    assert judge["system"] == "You are a helpful and precise assistant for checking the quality of the answer."
    judged = [r["body"] for r in clients.requests if r["path"] == "/v1/chat/completions"]
    assert judged[0]["temperature"] == 0.7
    assert judged[0]["messages"][0] == {"role": "system", "content": judge["system"]}
    asked = [r["body"] for r in clients.requests if r["path"] == "/v1/messages"]
    assert asked[0]["system"] == "You are a helpful assitant expert in medical domain."


# -- through a served model: the same answers as in-process ---------------------------------------------
@pytest.fixture
def demo_server(hf_ready: None, cache_dir: Path) -> Iterator[FakeAPI]:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.demo import make_demo

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDICONFUSION_CACHE", str(cache_dir))
        model = make_demo(ModelSpec("demo", "demo"), RunConfig(model="demo"))
    with FakeAPI(ModelResponder(model)) as api:
        yield api
    model.close()


def decisions(pytester: pytest.Pytester) -> list[list[str | None]]:
    return [[a["decision"] for a in p["answers"]] for p in pairs_of(pytester)]


@pytest.mark.parametrize("mode", ["mc", "greedy", "prefix"])
def test_a_served_model_gives_the_decisions_it_gives_in_process(
    demo_server: FakeAPI, pytester: pytest.Pytester, mode: str
) -> None:
    # A served model's prompt log-probabilities are read by context (no family rule applies over HTTP).
    pytester.runpytest("--model=demo", f"--mode={mode}", "--prefix-tokens=context", *SAMPLE)
    local = decisions(pytester)
    served = f"--model=openai-compatible:demo@{demo_server.url}/v1"
    result = pytester.runpytest(served, f"--mode={mode}", "--prefix-tokens=context", "--concurrency=4", *SAMPLE)
    assert read_results(pytester.path)["counts"]["pairs_scored"] == 16, result.stdout.str()[-2000:]
    assert decisions(pytester) == local
    if mode == "prefix":
        assert len(demo_server.requests) == 16 * 2 * 3  # per image: the prompt alone, then each option
        assert all(r["body"].get("prompt_logprobs") == 0 for r in demo_server.requests)
    if mode == "greedy":
        assert all(r["body"]["max_tokens"] == 1 and r["body"]["logprobs"] for r in demo_server.requests)


def test_prefix_needs_prompt_logprobs_from_the_server(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    """OpenAI itself returns no prompt log-probabilities: prefix is only offered for compatible servers."""
    result = pytester.runpytest("--model=gpt-4o", "--mode=prefix", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*does not support --mode=prefix*"])


def test_openai_compatible_needs_model_and_url(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=openai-compatible:no-url", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"expected openai-compatible:MODEL@URL", result.stderr.str())


# -- where the image goes: the harness's order for the paper's API rows, image first for served models ------------
def content_order(body: dict[str, Any]) -> list[str]:
    """The kinds of the user content's parts, in the order sent: 'text' or 'image'."""
    if "contents" in body:  # Gemini
        parts = body["contents"][0]["parts"]
        return ["text" if "text" in part else "image" for part in parts]
    message = next(m for m in body["messages"] if m["role"] == "user")
    return ["text" if part["type"] == "text" else "image" for part in message["content"]]


@pytest.mark.parametrize(
    ("spec", "default"),
    [
        ("gpt-4o", ["text", "image"]),  # Models/gpt.py: text, then image_url
        ("claude", ["image", "text"]),  # Models/claude.py: image block, then text
        ("gemini", ["text", "image"]),  # Models/gemini.py: generate_content([question, img])
        ("openai-compatible:demo@URL", ["image", "text"]),  # LLaVA-style chat templates: <image> first
    ],
)
def test_each_backend_puts_the_image_where_its_default_says_and_the_option_turns_it_round(
    clients: FakeAPI, pytester: pytest.Pytester, spec: str, default: list[str]
) -> None:
    model = f"--model={spec.replace('URL', clients.url + '/v1')}"
    pytester.runpytest(model, "--limit=1", *SAMPLE)
    assert {tuple(content_order(r["body"])) for r in clients.requests} == {tuple(default)}
    position = "before" if default[0] == "image" else "after"
    assert read_results(pytester.path)["model"]["instances"]["main"]["image_position"] == position
    recorded = answers_of(pytester)[0]["meta"]["request"]
    assert content_order(recorded) == default
    clients.requests.clear()
    flipped = "after" if position == "before" else "before"
    pytester.runpytest(model, "--limit=1", f"--image-position={flipped}", *SAMPLE)
    assert {tuple(content_order(r["body"])) for r in clients.requests} == {tuple(reversed(default))}
    assert read_results(pytester.path)["model"]["instances"]["main"]["image_position"] == flipped


def test_the_image_position_is_part_of_the_answer_store_key(clients: FakeAPI, pytester: pytest.Pytester) -> None:
    stored = [a for a in SAMPLE if a != "--no-store"]
    served = f"--model=openai-compatible:demo@{clients.url}/v1"
    pytester.runpytest(served, "--limit=1", *stored)
    pytester.runpytest(served, "--limit=1", *stored)
    assert len(clients.requests) == 2  # the second run read both answers from the store
    pytester.runpytest(served, "--limit=1", "--image-position=after", *stored)
    assert len(clients.requests) == 4  # a different question: asked again
    assert not any(a["cached"] for a in answers_of(pytester))


def test_keys_of_answers_stored_before_the_option_still_match_where_the_order_is_unchanged() -> None:
    """OpenAI and Anthropic kept their order, so their keys name no position; Gemini and served models moved."""
    from mediconfusion_tests.models.api.anthropic_messages import AnthropicMessages
    from mediconfusion_tests.models.api.client import ApiModel, ApiSettings
    from mediconfusion_tests.models.api.gemini_content import GeminiContent

    def keyed(cls: type[ApiModel], position: str | None = None, **attributes: str) -> dict[str, Any]:
        model = object.__new__(cls)
        model.settings = ApiSettings(image_position=position)
        for name, value in attributes.items():
            setattr(model, name, value)
        return model.generation_settings()

    assert "image_position" not in keyed(ApiModel)  # OpenAI and Azure: after, as before
    assert "image_position" not in keyed(AnthropicMessages)
    assert keyed(AnthropicMessages, "after")["image_position"] == "after"
    assert keyed(GeminiContent)["image_position"] == "after"
    assert "image_position" not in keyed(GeminiContent, "before")
    assert keyed(ApiModel, default_image_position="before")["image_position"] == "before"  # served


def test_prefix_under_paper_rules_is_refused_for_a_served_model_before_any_request(
    clients: FakeAPI, pytester: pytest.Pytester
) -> None:
    served = f"--model=openai-compatible:demo@{clients.url}/v1"
    result = pytester.runpytest(served, "--mode=prefix", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--prefix-tokens=paper (the default)" in result.stderr.str()
    assert "Pass --prefix-tokens=context" in result.stderr.str()
    assert not clients.requests
