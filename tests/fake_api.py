"""A stand-in for API servers over real HTTP on 127.0.0.1: OpenAI chat completions (with vLLM's logprobs
and prompt_logprobs), Anthropic messages and Gemini generateContent, answered by a responder.

The official client SDKs reach it through their base-URL settings. ``script``
queues what the next requests meet (a status with headers, a hang, a malformed
body, a refusal), ``delay`` holds every request a while so concurrency shows, and
``requests`` records what arrived (path, headers, body) for the secret scan.

Responders:
- ``ScriptedResponder``: answers without a model (fast), e.g. always "A";
- ``ModelResponder``: answers with a local transformers model through our own
  adapter, so results through the server can be compared with the same model run
  in-process (generation, next-token log-probabilities, prompt log-probabilities).
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

#: vLLM's OpenAI server returns prompt_logprobs at the top level of the completion.
LETTER_PROBE = re.compile(r"\[Answer A\]")


@dataclass
class Parsed:
    """One request, whatever its shape."""

    api: str  # openai | anthropic | gemini
    model: str
    system: str
    text: str
    image: bytes | None
    assistant: str | None = None
    greedy: bool = False
    prompt_logprobs: bool = False
    add_generation_prompt: bool = True
    max_tokens: int = 32

    @property
    def judge(self) -> bool:
        return self.image is None and bool(LETTER_PROBE.search(self.text))


@dataclass
class Action:
    kind: str  # status | hang | malformed | refuse | custom
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    text: str = ""
    #: kind "custom": (request headers, request body) -> (status, body, content type), a hostile server's reply.
    respond: Callable[[dict[str, str], dict[str, Any]], tuple[int, bytes, str]] | None = None


class ScriptedResponder:
    """No model: answers ``letter`` (mc), top log-probabilities favouring it (greedy), judge scores for A."""

    def __init__(self, letter: str = "A") -> None:
        self.letter = letter

    def generate(self, request: Parsed) -> str:
        if request.judge:
            return "A: 8\nB: 2\nYour explanation: the answer matches A."
        return self.letter

    def top_logprobs(self, request: Parsed) -> list[tuple[str, float]]:
        other = "B" if self.letter == "A" else "A"
        return [(self.letter, -0.2), (" " + self.letter, -2.0), (other, -1.9), ("The", -3.0)]

    def prompt_logprobs(self, request: Parsed) -> list[tuple[int, float]]:
        tokens = [(100 + i, -1.0) for i in range(len(request.text.split()))]
        if request.assistant is not None:
            tokens += [(500 + len(request.assistant) % 7, -0.5 if request.assistant.startswith("A") else -1.5)]
        return tokens


class ModelResponder:
    """A local transformers model behind the stand-in, asked through our own HF adapter."""

    def __init__(self, model: Any, judge: Any | None = None) -> None:
        self.model = model
        self.judge = judge or ScriptedResponder()
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="fake-api-images-"))

    def _query(self, request: Parsed, mode: str) -> Any:
        from mediconfusion_tests.models.base import Query

        path = ""
        if request.image is not None:
            path = str(self.folder / f"{hash(request.image) & 0xFFFFFFFF:08x}.jpg")
            Path(path).write_bytes(request.image)
        return Query("p", 1, path, "", "", ("", ""), mode, request.text)

    def generate(self, request: Parsed) -> str:
        if request.judge:
            return self.judge.generate(request)
        with self.lock:
            return str(self.model.answer([self._query(request, "mc")])[0].text)

    def top_logprobs(self, request: Parsed, k: int = 20) -> list[tuple[str, float]]:
        model = self.model
        import torch

        with self.lock, torch.inference_mode():
            _, features = model._encoded([self._query(request, "greedy")])
            logits = model._forward(model._batch(features), keep=1)[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            values, ids = torch.topk(logprobs, k)
            return [(model.tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids, strict=True)]

    def prompt_logprobs(self, request: Parsed) -> list[tuple[int, float]]:
        """Every prompt token's id and log-probability (the first has none): the prompt as our adapter
        renders it, the option (if any) joined as our adapter joins it."""
        model = self.model
        import torch

        with self.lock, torch.inference_mode():
            query = self._query(request, "prefix")
            image = model._image(query.image_path) if query.image_path else None
            text = model.render(query.prompt, with_image=image is not None)
            if request.assistant is not None:
                text += ("" if text.endswith((" ", "\n")) else " ") + request.assistant
            features = model._encode(text, image)
            batch = model._batch([features])
            logits = model.model(**batch).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            ids = batch["input_ids"][0].tolist()
            return [(ids[0], 0.0)] + [(ids[p], float(logprobs[p - 1, ids[p]])) for p in range(1, len(ids))]


class _Quiet(ThreadingHTTPServer):
    """A handler's own exception becomes a 500 for the client to see, not a traceback on stderr.

    A listen backlog as deep as a real server's: with the default of 5, a burst of connections is
    dropped and retried by the client's TCP stack a second later, which measures the stand-in.
    """

    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class FakeAPI:
    def __init__(self, responder: Any) -> None:
        self.responder = responder
        self.script: deque[Action] = deque()
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        #: What every request meets once the script is used up (None: an answer).
        self.always: Action | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = _Quiet(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_action(self) -> Action | None:
        with self._lock:
            return self.script.popleft() if self.script else self.always

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _image_from_url(url: str) -> bytes | None:
    if url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    return None


def parse(path: str, body: dict[str, Any]) -> Parsed:
    if path.endswith("/chat/completions"):
        system, text, image, assistant = "", "", None, None
        for message in body.get("messages", []):
            content = message.get("content")
            if message["role"] == "system":
                system = content if isinstance(content, str) else ""
            elif message["role"] == "assistant":
                assistant = content if isinstance(content, str) else ""
            elif isinstance(content, str):
                text = content
            else:
                for part in content:
                    if part.get("type") == "text":
                        text += part["text"]
                    elif part.get("type") == "image_url":
                        image = _image_from_url(part["image_url"]["url"])
        return Parsed(
            "openai",
            body.get("model", ""),
            system,
            text,
            image,
            assistant,
            greedy=bool(body.get("logprobs")),
            prompt_logprobs="prompt_logprobs" in body,
            add_generation_prompt=body.get("add_generation_prompt", True),
            max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 32),
        )
    if path.endswith("/messages"):
        text, image = "", None
        for part in body["messages"][0]["content"]:
            if part["type"] == "text":
                text += part["text"]
            elif part["type"] == "image":
                image = base64.b64decode(part["source"]["data"])
        return Parsed("anthropic", body.get("model", ""), body.get("system", ""), text, image)
    if ":generateContent" in path:
        text, image = "", None
        for content in body.get("contents", []):
            for part in content.get("parts", []):
                if "text" in part:
                    text += part["text"]
                inline = part.get("inlineData") or part.get("inline_data")
                if inline:
                    data = inline["data"]
                    image = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        instruction: Any = body.get("systemInstruction") or body.get("system_instruction") or {}
        parts = instruction.get("parts", []) if isinstance(instruction, dict) else []
        system_text = "".join(p.get("text", "") for p in parts)
        model = path.split("/models/", 1)[1].split(":", 1)[0]
        return Parsed("gemini", model, system_text, text, image)
    raise ValueError(f"unknown path {path}")


def openai_reply(request: Parsed, responder: Any, refusal: str | None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    message: dict[str, Any] = {"role": "assistant", "content": None}
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "message": message, "logprobs": None}
    if refusal is not None:
        message["refusal"] = refusal
    elif request.prompt_logprobs:
        tokens = responder.prompt_logprobs(request)
        reply["prompt_logprobs"] = [None] + [
            {str(token): {"logprob": logprob, "rank": 1, "decoded_token": ""}} for token, logprob in tokens[1:]
        ]
        message["content"] = ""
    elif request.greedy:
        top = responder.top_logprobs(request)
        entry = {"token": top[0][0], "logprob": top[0][1], "bytes": None}
        entry["top_logprobs"] = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]
        choice["logprobs"] = {"content": [entry], "refusal": None}
        message["content"] = top[0][0]
    else:
        message["content"] = responder.generate(request)
    reply["choices"] = [choice]
    return reply


def anthropic_reply(request: Parsed, responder: Any, refusal: str | None) -> dict[str, Any]:
    text = refusal if refusal is not None else responder.generate(request)
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "refusal" if refusal is not None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 3},
    }


def gemini_reply(request: Parsed, responder: Any, refusal: str | None) -> dict[str, Any]:
    if refusal is not None:
        candidate: dict[str, Any] = {"finishReason": "SAFETY", "index": 0}
    else:
        candidate = {
            "content": {"role": "model", "parts": [{"text": responder.generate(request)}]},
            "finishReason": "STOP",
            "index": 0,
        }
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 3, "totalTokenCount": 14},
        "modelVersion": request.model,
    }


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(
            self, status: int, payload: bytes, headers: dict[str, str] | None = None, kind: str = "application/json"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = json.loads(raw or b"{}")
            path = self.path.split("?", 1)[0]
            headers = {name.lower(): value for name, value in self.headers.items()}
            api.requests.append({"path": path, "headers": headers, "body": body})
            api.enter()
            try:
                if api.delay:
                    time.sleep(api.delay)
                action = api.next_action()
                if action is not None and action.kind == "hang":
                    time.sleep(action.seconds)
                if action is not None and action.kind == "status":
                    error = {"error": {"message": action.text or f"scripted {action.status}", "type": "scripted"}}
                    self._send(action.status, json.dumps(error).encode(), action.headers)
                    return
                if action is not None and action.kind == "custom" and action.respond is not None:
                    status, payload, kind = action.respond(headers, body)
                    self._send(status, payload, kind=kind)
                    return
                if action is not None and action.kind == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                    return
                refusal = action.text if action is not None and action.kind == "refuse" else None
                request = parse(path, body)
                if request.api == "openai":
                    reply = openai_reply(request, api.responder, refusal)
                elif request.api == "anthropic":
                    reply = anthropic_reply(request, api.responder, refusal)
                else:
                    reply = gemini_reply(request, api.responder, refusal)
                self._send(200, json.dumps(reply).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                api.leave()

        def log_message(self, *args: object) -> None:
            return

    return Handler
