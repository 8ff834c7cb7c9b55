"""Hostile servers (tests/fake_api.py on 127.0.0.1): no secret written, nothing paid for lost, a budget that
fails closed, replies read up to a bound, and every malformed reply named as the server's error.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from fake_api import Action, FakeAPI, ScriptedResponder
from helpers import read_run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytest.importorskip("openai")

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")

OPENAI_KEY = "sk-canary-OPENAI-7f3a9c1e5b2d4f60"

#: A key with characters that JSON, HTML and URLs escape differently: each written form must be scrubbed.
FILE_TOKEN = "tok+canary/FILE=&<x>-9b8c7d6e"  # noqa: S105 - a canary, not a credential

HF_TOKEN = "hf_canaryHFTOKEN0123456789abcdef"  # noqa: S105 - a canary

CANARIES = (OPENAI_KEY, FILE_TOKEN, HF_TOKEN)


def completion(content: object = "A", **changes: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    reply.update(changes)
    return reply


def replying(make: Callable[[dict[str, str], dict[str, Any]], Any], kind: str = "application/json") -> Action:
    def respond(headers: dict[str, str], body: dict[str, Any]) -> tuple[int, bytes, str]:
        made = make(headers, body)
        return 200, made if isinstance(made, bytes) else json.dumps(made).encode(), kind

    return Action("custom", respond=respond)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPI]:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "MEDICONFUSION_BUDGET_FILE"):
        monkeypatch.delenv(name, raising=False)
    with FakeAPI(ScriptedResponder("A")) as api:
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1")
        yield api


def pairs(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    return list(read_run(pytester.path)["pairs"])


# -- 1. no secret is ever written ----------------------------------------------------------------------------
def echo_everything(headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """A server that knows every secret and puts them everywhere a reply can hold text."""
    said = f"{headers.get('authorization')} {FILE_TOKEN} {HF_TOKEN}"
    reply = completion(f"A. By the way, you sent: {said}", model=headers.get("authorization", ""))
    reply["system_fingerprint"] = said
    return reply


@pytest.mark.parametrize("workers", [None, "2"])
def test_no_secret_reaches_any_file_the_store_or_the_terminal_whatever_the_server_echoes(
    server: FakeAPI, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    env_file = pytester.path / "keys.env"
    env_file.write_text(f'OPENAI_API_KEY="{OPENAI_KEY}"\nMY_SERVICE_TOKEN="{FILE_TOKEN}"\n')
    # The first reply is an error quoting the key, then every reply echoes all of them.
    server.script.append(Action("status", 400, text=f"bad key {OPENAI_KEY} and {FILE_TOKEN} and {HF_TOKEN}"))
    server.always = replying(echo_everything)
    args = [
        "--model=gpt-4o",
        "--limit=4",
        "--concurrency=1",
        f"--env-file={env_file}",
        "--alluredir=allure",
        "--junitxml=junit.xml",
        "-rA",
        "--tb=long",
        "-l",
        "-v",
        *SAMPLE,
    ]
    result = pytester.runpytest_subprocess(*args, "-n", workers) if workers else pytester.runpytest(*args)
    assert any(r["headers"].get("authorization") == f"Bearer {OPENAI_KEY}" for r in server.requests)
    answers = [a for p in pairs(pytester) for a in p["answers"] or ()]
    assert answers, result.stdout.str()[-3000:]
    assert all("you sent: Bearer *** *** ***" in a["raw"] for a in answers)
    assert all(a["meta"]["response_model"] == "Bearer ***" for a in answers)
    assert any("bad key *** and *** and ***" in str(p.get("error")) for p in pairs(pytester))
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p != env_file]
    assert any(p.name == "answers.sqlite" for p in written)
    assert any(p.suffix == ".html" for p in written)
    assert any("allure" in p.parts for p in written)
    store = next(p for p in written if p.name == "answers.sqlite")
    rows = sqlite3.connect(store).execute("SELECT answer FROM answers").fetchall()
    assert len(rows) >= 6
    terminal = result.stdout.str() + result.stderr.str()
    for canary in CANARIES:
        forms = {canary, json.dumps(canary)[1:-1], quote(canary, safe=""), canary.replace("&", "&amp;")}
        for path in written:
            data = path.read_bytes()
            assert not any(form.encode() in data for form in forms), f"{canary} leaked into {path}"
        assert not any(form in terminal for form in forms), f"{canary} leaked into the terminal"


def test_a_model_that_fails_to_build_stops_once_and_shows_no_key_in_its_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK refuses the endpoint while building (a ValueError, not one of ours): one stop, no locals."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "::::")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", OPENAI_KEY)
    result = pytester.runpytest("--model=openai:my-deployment", "--tb=long", "-l", "-rA", *SAMPLE)
    terminal = result.stdout.str() + result.stderr.str()
    assert OPENAI_KEY not in terminal
    assert result.ret == 1
    assert terminal.count("ERROR at setup") <= 1
    assert "Traceback" not in terminal
    assert "api_key = " not in terminal
    problems = read_run(pytester.path)["problems"]
    assert problems[0].startswith("the model could not be loaded: InvalidURL: ")
    result.stdout.fnmatch_lines(["*cannot load model 'openai:my-deployment': InvalidURL*-v for the traceback*"])


# -- 2. a budget stop keeps what it paid for ---------------------------------------------------------------
@pytest.mark.parametrize("store", [True, False], ids=["store", "no-store"])
@pytest.mark.parametrize("workers", [None, "2"])
def test_a_budget_stop_scores_every_pair_answered_before_it_and_says_where_the_answers_are(
    server: FakeAPI, pytester: pytest.Pytester, workers: str | None, store: bool
) -> None:
    args = ["--model=gpt-4o", "--concurrency=1", "--max-requests=10", *SAMPLE, *([] if store else ["--no-store"])]
    result = pytester.runpytest_subprocess(*args, "-n", workers) if workers else pytester.runpytest(*args)
    assert result.ret == 1
    assert len(server.requests) == 10
    run = read_run(pytester.path)
    scored = [p for p in run["pairs"] if p["status"] in ("passed", "failed")]
    not_run = [p for p in run["pairs"] if p["status"] == "skipped" and p["reason"].startswith("not run: ")]
    # Ten answers: five whole pairs in one process; under xdist a pair may be split by the stop.
    assert (len(scored) == 5) if workers is None else (4 <= len(scored) <= 5)
    assert run["counts"]["pairs_scored"] == len(scored)
    assert len(scored) + len(not_run) == 16
    assert run["run"]["complete"] is False
    stop = next(p for p in run["problems"] if p.startswith("the run was stopped"))
    assert f"{len(scored)} pair(s) answered before the stop are scored, {len(not_run)} pair(s) were not answered" in (
        stop
    )
    assert not (pytester.path / "reports" / "latest").exists()
    assert result.stdout.lines[-1] == "exit 1: the run was stopped by its budget; the results are partial"
    if store:
        path = pytester.path / "reports" / "answers.sqlite"
        assert f"every answer received is kept in the answer store {path}" in stop
        assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 10
        # A rerun with a larger budget asks only what was not answered.
        server.requests.clear()
        again = pytester.runpytest("--model=gpt-4o", "--concurrency=1", "--max-requests=100", *SAMPLE)
        assert again.ret == 1  # the stand-in answers A: confused pairs
        assert len(server.requests) == 32 - 10
    else:
        assert "with --no-store the answers received are kept only in this run's results.json" in stop


# -- 4. --max-cost fails closed ------------------------------------------------------------------------------
def test_a_reply_without_usage_stops_a_cost_bounded_run_before_the_next_request(
    server: FakeAPI, pytester: pytest.Pytester
) -> None:
    reply = completion()
    del reply["usage"]
    server.always = replying(lambda h, b: reply)
    result = pytester.runpytest("--model=gpt-4o", "--concurrency=1", "--max-cost=5", *SAMPLE)
    assert result.ret == 1
    assert len(server.requests) == 1
    stop = next(p for p in read_run(pytester.path)["problems"] if p.startswith("the run was stopped"))
    assert "the cost of a reply is unknown (the server stated no usage), so --max-cost cannot be kept" in stop


@pytest.mark.parametrize(
    ("usage", "said"),
    [
        ({"prompt_tokens": -500, "completion_tokens": 3}, "prompt_tokens=-500"),
        ({"prompt_tokens": "lots", "completion_tokens": 3}, "prompt_tokens='lots'"),
        ({"prompt_tokens": 11, "completion_tokens": 2.5}, "completion_tokens=2.5"),
    ],
)
def test_usage_that_is_not_a_token_count_is_the_servers_error(
    server: FakeAPI, pytester: pytest.Pytester, usage: dict[str, Any], said: str
) -> None:
    server.always = replying(lambda h, b: completion(usage=usage))
    pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", "--no-store", *SAMPLE)
    pair = pairs(pytester)[0]
    assert pair["status"] == "error"
    assert f"the server stated usage {said}, which is not a token count" in pair["error"]
    # Under --max-cost the reply's cost is then unknown: the run stops before the next request.
    server.requests.clear()
    pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", "--no-store", "--max-cost=5", *SAMPLE)
    assert len(server.requests) == 1
    assert any("the cost of a reply is unknown" in p for p in read_run(pytester.path)["problems"])


def test_the_worst_case_of_every_request_is_reserved_so_concurrency_cannot_overshoot(
    server: FakeAPI, pytester: pytest.Pytester
) -> None:
    """Each reply costs close to its worst case; eight in flight at once would spend past the budget
    if only what was already spent were checked before sending."""

    def expensive(headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return completion(usage={"prompt_tokens": 1900, "completion_tokens": 32})

    server.always = replying(expensive)
    server.delay = 0.2
    budget = 0.03
    result = pytester.runpytest("--model=gpt-4o", "--concurrency=8", f"--max-cost={budget}", *SAMPLE)
    assert result.ret == 1
    run = read_run(pytester.path)
    spent = run["usage"]["cost_usd"]
    assert 0 < spent <= budget
    assert 1 <= len(server.requests) < 16
    stop = next(p for p in run["problems"] if p.startswith("the run was stopped"))
    assert "the cost budget is spent" in stop
    assert "the next request may cost up to $" in stop


def test_a_budget_smaller_than_one_requests_worst_case_sends_nothing(
    server: FakeAPI, pytester: pytest.Pytester
) -> None:
    result = pytester.runpytest("--model=gpt-4o", "--max-cost=0.0001", *SAMPLE)
    assert result.ret == 1
    assert server.requests == []
    assert read_run(pytester.path)["counts"]["pairs_scored"] == 0


# -- 5. bounded work per reply ---------------------------------------------------------------------------------
def test_a_long_reply_is_truncated_with_a_note_and_parsed_on_what_is_kept(
    server: FakeAPI, pytester: pytest.Pytester
) -> None:
    from mediconfusion_tests.models.base import MAX_ANSWER_CHARS

    server.always = replying(lambda h, b: completion("Answer: A\n" * 6_000))
    pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", *SAMPLE)
    answer = pairs(pytester)[0]["answers"][0]
    assert len(answer["raw"]) == MAX_ANSWER_CHARS
    assert answer["meta"]["truncated"] == {"chars": 60_000, "kept": MAX_ANSWER_CHARS}
    assert answer["decision"] == "A"
    store = pytester.path / "reports" / "answers.sqlite"
    longest = sqlite3.connect(store).execute("SELECT MAX(LENGTH(answer)) FROM answers").fetchone()[0]
    assert longest < 3 * MAX_ANSWER_CHARS


def test_a_reply_body_past_the_bound_is_not_read_and_not_retried(server: FakeAPI, pytester: pytest.Pytester) -> None:
    huge = b'{"choices": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    server.always = replying(lambda h, b: huge)
    pytester.runpytest("--model=gpt-4o", "--limit=1", "--concurrency=1", "--no-store", *SAMPLE)
    error = pairs(pytester)[0]["error"]
    assert "is larger than the 8 MiB the suite reads" in error
    assert len(server.requests) == 2  # one per image: a second try would be as large


# -- 9. replies named as the server's errors -------------------------------------------------------------------
def greedy_reply(entries: Any) -> dict[str, Any]:
    reply = completion("A")
    reply["choices"][0]["logprobs"] = {"content": entries}
    return reply


@pytest.mark.parametrize(
    ("mode", "reply", "kind", "said"),
    [
        ("mc", b"<html><body>Welcome to nginx</body></html>", "text/html", "is not a chat completion but an HTML page"),
        ("mc", b'"hello"', "application/json", "is not a chat completion but str: 'hello'"),
        ("mc", completion(choices=[{"index": 0, "finish_reason": "stop", "message": None}]), "", "has no message"),
        ("mc", completion(choices=[]), "", "has no choices"),
        ("mc", completion(content={"text": "A"}), "", "message content is not text"),
        ("greedy", greedy_reply("nope"), "", "logprobs.content is not a list of tokens: 'nope'"),
        (
            "greedy",
            greedy_reply([{"token": "A", "logprob": 0, "top_logprobs": [{"token": "A", "logprob": 1000}]}]),
            "",
            "the server sent 1000.0 as the logprob of 'A', which is not a log-probability",
        ),
    ],
    ids=["html", "bare-string", "null-message", "no-choices", "content-object", "logprobs-string", "logprob-1000"],
)
def test_a_malformed_reply_is_that_pairs_server_error_naming_what_was_sent(
    server: FakeAPI, pytester: pytest.Pytester, mode: str, reply: Any, kind: str, said: str
) -> None:
    server.always = replying(lambda h, b: reply, kind or "application/json")
    result = pytester.runpytest("--model=openai:gpt-4o-mini", f"--mode={mode}", "--limit=2", "--no-store", *SAMPLE)
    assert result.ret == 1
    found = pairs(pytester)
    assert [p["status"] for p in found] == ["error", "error"]
    assert all(said in p["error"] and "ServerError" in p["error"] for p in found), found[0]["error"]
    assert "AttributeError" not in result.stdout.str()
    assert read_run(pytester.path)["counts"]["failure_classes"].get("invalid", 0) == 0
