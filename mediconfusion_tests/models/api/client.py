"""What every API backend shares: concurrency, retries, the run-wide budget, usage and cost.

A batch of queries is sent with up to ``--concurrency`` requests in flight, on an
event loop of this model's own (the SDK clients stay open between batches). A
request that meets 429, 5xx, a timeout or a dropped connection is sent again
after ``Retry-After`` when the server gives one, else after an exponential delay
with jitter, up to ``--max-retries`` times; other errors (a refused key, a bad
request) fail at once. Every request sent counts against ``--max-requests`` and
every reply's cost against ``--max-cost``; the counts live in one locked file
that every xdist worker of the run shares, so the budget is the run's.

``--max-cost`` fails closed. Before a request is sent, its worst case is reserved:
the prompt's UTF-8 bytes (no tokenizer makes more tokens than bytes) plus a bound
per image (``images.token_bound``) at the input price, and the most tokens it may
generate at the output price. A request whose worst case does not fit beside what
is spent and reserved is not sent; when its reply comes, the reservation gives way
to the reply's real cost. So the run's spend never exceeds the budget while replies
cost what they may; a provider that charges more than the bound overshoots by at
most that excess on the requests in flight (``--concurrency``). A reply that states
no usage leaves its cost unknown: the run then stops before the next request.
Usage that is not a non-negative whole number is the server's error.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mediconfusion_tests.errors import ConfigError, ModelError, PartialAnswers, RunStopped
from mediconfusion_tests.models.api import prices
from mediconfusion_tests.models.api.http import too_large
from mediconfusion_tests.models.api.images import token_bound
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.quoting import shown
from mediconfusion_tests.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Sequence

    from mediconfusion_tests.config import RunConfig

T = TypeVar("T")
#: Set by the controller for every process of the run: the file the run's budget is counted in.
BUDGET_ENV = "MEDICONFUSION_BUDGET_FILE"
#: Backoff: first delay, growth, ceiling (seconds).
BACKOFF_START, BACKOFF_CAP = 1.0, 60.0
#: Tokens a request adds around the prompt text (roles, separators): generous for every listed provider.
PROMPT_OVERHEAD_TOKENS = 64
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True)
class ApiSettings:
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 6
    max_requests: int | None = None
    max_cost: float | None = None
    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    #: --image-position; None: the backend's own default.
    image_position: str | None = None

    @classmethod
    def from_config(cls, config: RunConfig) -> ApiSettings:
        return cls(
            concurrency=config.concurrency,
            timeout=config.request_timeout,
            max_retries=config.max_retries,
            max_requests=config.max_requests,
            max_cost=config.max_cost,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            seed=config.seed,
            image_position=config.image_position,
        )


@dataclass
class Budget:
    """Requests sent, dollars spent and reserved by the whole run, in a file every process of the run shares."""

    max_requests: int | None = None
    max_cost: float | None = None
    path: Path | None = None
    _local: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_run(cls, settings: ApiSettings) -> Budget:
        path = os.environ.get(BUDGET_ENV)
        return cls(settings.max_requests, settings.max_cost, Path(path) if path else None)

    def _update(self, change: Callable[[dict[str, float]], None]) -> dict[str, float]:
        with self._lock:
            if self.path is None:
                change(self._local)
                return dict(self._local)
            from filelock import FileLock

            # A lock file beside the counts (not a lock on the file itself): the same on every OS.
            with FileLock(f"{self.path}.lock"), self.path.open("a+") as handle:
                handle.seek(0)
                text = handle.read()
                counts: dict[str, float] = json.loads(text) if text.strip() else {}
                change(counts)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(counts))
                return counts

    def take_request(self, worst_cost: float = 0.0) -> None:
        """Count one request about to be sent and reserve its worst-case cost, or stop the run when the
        budget cannot cover it."""
        stop: list[str] = []

        def take(counts: dict[str, float]) -> None:
            sent, spent, reserved = (counts.get(k, 0.0) for k in ("requests", "cost", "reserved"))
            if self.max_requests is not None and sent >= self.max_requests:
                stop.append(f"the request budget is spent ({self.max_requests} requests, --max-requests)")
            elif self.max_cost is not None and counts.get("unknown", 0):
                stop.append("the cost of a reply is unknown (the server stated no usage), so --max-cost cannot be kept")
            elif self.max_cost is not None and spent + reserved + worst_cost > self.max_cost:
                stop.append(
                    f"the cost budget is spent (${spent:.4f} spent and ${reserved:.4f} reserved for requests in "
                    f"flight of ${self.max_cost}; the next request may cost up to ${worst_cost:.4f}, --max-cost)"
                )
            else:
                counts["requests"] = sent + 1
                counts["reserved"] = reserved + worst_cost

        self._update(take)
        if stop:
            raise RunStopped(stop[0])

    def settle(self, reserved: float, spent: float | None) -> None:
        """A request's reservation released, and what its reply cost (None: the reply did not say)."""

        def apply(counts: dict[str, float]) -> None:
            counts["reserved"] = max(0.0, counts.get("reserved", 0.0) - reserved)
            if spent is None:
                counts["unknown"] = counts.get("unknown", 0.0) + 1
            else:
                counts["cost"] = counts.get("cost", 0.0) + spent

        self._update(apply)


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (seconds, or an HTTP date), or retry-after-ms."""
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    millis = getter("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = getter("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def classify(exc: BaseException) -> tuple[bool, float | None, int | None]:
    """(worth retrying, server's wait in seconds, HTTP status) for an SDK's exception."""
    if too_large(exc) is not None:
        return False, None, None  # a second try would be as large
    status = getattr(exc, "status_code", None)
    if status is None:
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) else None
    response = getattr(exc, "response", None)
    wait = retry_after(getattr(response, "headers", None))
    name = type(exc).__name__
    if isinstance(status, int):
        return status in RETRY_STATUSES or status >= 500, wait, status
    transient = isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)) or any(
        word in name for word in ("Timeout", "Connection", "Connect", "RemoteProtocol", "ReadError")
    )
    return transient, wait, None


def describe_error(exc: BaseException) -> str:
    large = too_large(exc)
    if large is not None:
        return str(large)
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return scrub(f"{type(exc).__name__}{f' {status}' if status else ''}: {text}")[:500]


class ApiError(ModelError):
    pass


class ServerError(ModelError):
    """The server's reply is not what its API promises: that pair's error, never the model's invalid answer."""


def reply_object(reply: Any, name: str, what: str) -> dict[str, Any]:
    """An SDK's reply as a dict, or the server's error when the body was not a JSON object."""
    data = reply.model_dump() if hasattr(reply, "model_dump") else reply
    if not isinstance(data, dict):
        kind = "an HTML page" if isinstance(data, str) and data.lstrip()[:1] == "<" else type(data).__name__
        raise ServerError(f"{name}: the server's reply is not {what} but {kind}: {shown(data)}")
    return data


def token_count(value: object, name: str, field: str) -> int | None:
    """A usage figure as the reply states it: None when absent, else a non-negative whole number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ServerError(f"{name}: the server stated usage {field}={shown(value)}, which is not a token count")
    return value


def log_probability(value: object, name: str, where: str) -> float:
    """A log-probability from the reply: a finite number <= 0 (a hair above 0 is rounding)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value > 1e-3:
        raise ServerError(f"{name}: the server sent {shown(value)} as {where}, which is not a log-probability")
    return float(value)


class ApiModel(Model):
    """An API backend: subclasses build requests (``ask``) and read replies; this class sends them."""

    cacheable = True
    #: The provider's model name, for prices and the fingerprint.
    model_name: str = ""
    #: Where this backend puts the image without --image-position (the original harness's order for the
    #: paper's API rows), and where it put it before the option existed: answer-store keys name the position
    #: only where it differs from the latter, so answers stored earlier still match what was asked.
    default_image_position: str = "after"
    legacy_image_position: str = "after"

    def __init__(self, name: str, model_name: str, settings: ApiSettings) -> None:
        self.name = name
        self.model_name = model_name
        self.settings = settings
        self.budget = Budget.for_run(settings)
        self.requests_sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{name}-requests", daemon=True)
        self._thread.start()
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def image_position(self) -> str:
        return self.settings.image_position or self.default_image_position

    def with_image(self, text: Any, image: Any) -> list[Any]:
        """The request's content parts in --image-position's order."""
        return [image, text] if self.image_position == "before" else [text, image]

    # -- the protocol ---------------------------------------------------------------------------
    @property
    def batch_limit(self) -> int:
        """Queries per call: enough to keep every request slot busy."""
        return max(32, 2 * self.settings.concurrency)

    def fingerprint(self) -> str:
        return f"api:{type(self).__name__}:{self.model_name}"

    def generation_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"max_new_tokens": self.settings.max_new_tokens}
        if self.settings.temperature:
            settings |= {"temperature": self.settings.temperature, "top_p": self.settings.top_p}
        if self.image_position != self.legacy_image_position:
            settings["image_position"] = self.image_position
        return settings

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "class": type(self).__name__,
            "api_model": self.model_name,
            "concurrency": self.settings.concurrency,
            "image_position": self.image_position,
            "price_per_million_tokens": prices.price(self.model_name),
            "requests_sent": self.requests_sent,
            "max_in_flight": self.max_in_flight,
        }

    def close(self) -> None:
        async def shutdown() -> None:
            await self.aclose()

        try:
            self._run(shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    async def aclose(self) -> None:
        """Close the SDK client."""

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if not queries:
            return []
        outcomes = self._run(self._answer_all(queries))
        if any(isinstance(o, BaseException) for o in outcomes):
            raise PartialAnswers(
                [o if isinstance(o, Answer) else None for o in outcomes],
                [o if isinstance(o, BaseException) else None for o in outcomes],
            )
        return [o for o in outcomes if isinstance(o, Answer)]

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _answer_all(self, queries: Sequence[Query]) -> list[Answer | BaseException]:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        results: list[Answer | BaseException] = await asyncio.gather(
            *(self._answer_one(query) for query in queries), return_exceptions=True
        )
        return results

    async def _answer_one(self, query: Query) -> Answer:
        return await self.ask(query)

    async def ask(self, query: Query) -> Answer:
        raise NotImplementedError

    def usage(self, reply: Any) -> tuple[int | None, int | None]:
        """(input tokens, output tokens) as the reply states them (None where it states none); a reply
        whose usage is not token counts is the server's error (``token_count``)."""
        raise NotImplementedError

    def worst_cost(self, query: Query, extra_text: str = "", max_tokens: int | None = None) -> float:
        """The most a request for this query may cost: see the module's docstring."""
        found = prices.price(self.model_name)
        if found is None or self.settings.max_cost is None:
            return 0.0
        tokens_in = len(f"{query.system}{query.prompt}{extra_text}".encode()) + PROMPT_OVERHEAD_TOKENS
        if query.image_path:
            tokens_in += token_bound(query.image_path)
        tokens_out = self.settings.max_new_tokens if max_tokens is None else max_tokens
        return (tokens_in * found[0] + tokens_out * found[1]) / 1e6

    def _account(self, reply: Any, reserved: float, meta: dict[str, Any]) -> None:
        """The reply's usage into the answer's metadata (summed over its requests) and the run's budget."""
        try:
            tokens_in, tokens_out = self.usage(reply)
        except ModelError:
            self.budget.settle(reserved, None)
            raise
        if tokens_in is None or tokens_out is None:
            self.budget.settle(reserved, None if self.settings.max_cost is not None else 0.0)
            return
        meta["tokens_in"] = int(meta.get("tokens_in", 0)) + tokens_in
        meta["tokens_out"] = int(meta.get("tokens_out", 0)) + tokens_out
        spent = prices.cost(self.model_name, tokens_in, tokens_out)
        if spent is not None:
            meta["cost_usd"] = round(float(meta.get("cost_usd", 0.0)) + spent, 8)
        self.budget.settle(reserved, spent or 0.0)

    # -- sending ----------------------------------------------------------------------------------
    async def send(self, request: Callable[[], Awaitable[T]], meta: dict[str, Any], worst_cost: float = 0.0) -> T:
        """One request, with the budget, the concurrency bound, a timeout and retries; ``meta`` gets
        the number of attempts, the errors that were retried and the reply's usage and cost.
        ``worst_cost`` is reserved from --max-cost while the request is in flight."""
        assert self._semaphore is not None  # noqa: S101 - set by _answer_all before any request
        attempt = 0
        while True:
            async with self._semaphore:
                # Reserved only when a slot is free: what is reserved is what is in flight.
                self.budget.take_request(worst_cost)
                self.requests_sent += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    reply = await asyncio.wait_for(request(), timeout=self.settings.timeout)
                except Exception as exc:  # noqa: BLE001 - classified below; the last one is raised
                    # A refused or failed request is not charged by the providers listed in prices.py.
                    self.budget.settle(worst_cost, 0.0)
                    retry, wait, _ = classify(exc)
                    if isinstance(exc, asyncio.TimeoutError):
                        retry = True
                    error = (
                        describe_error(exc)
                        if not isinstance(exc, asyncio.TimeoutError)
                        else (f"no reply within {self.settings.timeout:g} s (--request-timeout)")
                    )
                    meta.setdefault("retried", []).append(error)
                    if not retry or attempt >= self.settings.max_retries:
                        meta["attempts"] = attempt + 1
                        what = f"after {attempt + 1} attempts" if attempt else "and was not retried"
                        raise ApiError(f"{self.name}: the request failed {what}: {error}") from None
                else:
                    self._account(reply, worst_cost, meta)
                    return reply
                finally:
                    self.in_flight -= 1
            delay = wait if wait is not None else min(BACKOFF_CAP, BACKOFF_START * 2**attempt)
            delay *= 1.0 if wait is not None else random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not secrecy
            attempt += 1
            meta["attempts"] = attempt + 1
            await asyncio.sleep(min(delay, BACKOFF_CAP))


def refuse_unknown_price(model: str, settings: ApiSettings) -> None:
    if settings.max_cost is not None and prices.price(model) is None:
        raise ConfigError(
            f"--max-cost needs the price of {model!r}, which is not in the price list "
            "(mediconfusion_tests/models/api/prices.py); use --max-requests to bound the run instead"
        )
