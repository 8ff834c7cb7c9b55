"""OpenAI chat completions: OpenAI, Azure OpenAI, and OpenAI-compatible servers (vLLM, SGLang, TGI, Ollama).

Request: an optional system message (the prompt file's initial prompt), then the
user's prompt text and the image (inline base64): text first for OpenAI and Azure,
as the original harness sent them (``Models/gpt.py``); image first for
OpenAI-compatible servers, whose open models' chat templates (LLaVA's among them)
expect the image before the question. ``--image-position`` overrides either. Modes:

- ``mc``, ``freeform``: the reply's text, at ``--temperature`` (0 by default);
- ``greedy``: one token at temperature 0 with the top log-probabilities; each
  letter's probability is summed over the listed tokens that read as it ("A",
  " A"). A letter missing from the list is named in the answer's metadata
  (``absent``), never guessed; when neither is listed the answer is invalid;
- ``prefix`` (servers that return vLLM's ``prompt_logprobs``), ``--prefix-tokens=context``
  only: the option is sent as a final assistant message that the server continues, and
  scored by the mean log-probability of its tokens; which tokens are the option's is
  found by comparing with the same request without the option (one more request per
  image). ``paper`` is refused before any request (entries.PAPER_PREFIX_REFUSED).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.api.client import (
    ApiModel,
    ApiSettings,
    ServerError,
    log_probability,
    reply_object,
    token_count,
)
from mediconfusion_tests.models.api.images import inline
from mediconfusion_tests.models.base import Answer, Query
from mediconfusion_tests.quoting import shown
from mediconfusion_tests.scoring.letters import LETTERS, Letter

if TYPE_CHECKING:
    from mediconfusion_tests.models.api.secrets import Environment

#: How many alternatives greedy asks for (OpenAI's maximum).
TOP_LOGPROBS = 20
AZURE_API_VERSION = "2024-10-21"


class OpenAIChat(ApiModel):
    def __init__(
        self,
        *,
        name: str,
        model_name: str,
        settings: ApiSettings,
        env: Environment,
        kind: str,
        base_url: str | None = None,
    ) -> None:
        super().__init__(name, model_name, settings)
        self.kind = kind
        self.default_image_position = "before" if kind == "compatible" else "after"
        self.modes = frozenset({"mc", "freeform", "judge", "greedy"} | ({"prefix"} if kind == "compatible" else set()))
        try:
            import openai
        except ImportError as exc:
            raise ModelError("this model needs the openai package: pip install openai (in the api extra)") from exc
        from mediconfusion_tests.models.api.http import CappedTransport

        common: dict[str, Any] = {
            "max_retries": 0,
            "timeout": settings.timeout,
            "http_client": openai.DefaultAsyncHttpxClient(transport=CappedTransport()),
        }
        self.client: Any
        if kind == "azure":
            self.client = openai.AsyncAzureOpenAI(
                api_key=env.secret("AZURE_OPENAI_API_KEY"),
                azure_endpoint=env.get("AZURE_OPENAI_ENDPOINT") or "",
                api_version=env.get("OPENAI_API_VERSION") or env.get("AZURE_OPENAI_API_VERSION") or AZURE_API_VERSION,
                **common,
            )
            self.endpoint = str(env.get("AZURE_OPENAI_ENDPOINT"))
        elif kind == "compatible":
            key = env.secret("OPENAI_COMPATIBLE_API_KEY") or "EMPTY"
            self.client = openai.AsyncOpenAI(api_key=key, base_url=base_url, **common)
            self.endpoint = str(base_url)
        else:
            base = env.get("OPENAI_BASE_URL")
            self.client = openai.AsyncOpenAI(
                api_key=env.secret("OPENAI_API_KEY"), base_url=base, organization=env.get("OPENAI_ORG_ID"), **common
            )
            self.endpoint = base or "https://api.openai.com/v1"
        self.base_url = base_url

    def fingerprint(self) -> str:
        where = self.endpoint if self.kind == "compatible" else self.kind
        return f"api:openai-chat:{where}:{self.model_name}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": self.endpoint, "kind": self.kind}

    async def aclose(self) -> None:
        await self.client.close()

    # -- requests --------------------------------------------------------------------------------
    def _messages(
        self, query: Query, answer_prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(messages sent, messages recorded: the image named, not carried)."""
        sent: list[dict[str, Any]] = []
        if query.system:
            sent.append({"role": "system", "content": query.system})
        text = {"type": "text", "text": query.prompt}
        content: list[dict[str, Any]] = [text]
        recorded_content = list(content)
        if query.image_path:
            image = inline(query.image_path)
            content = self.with_image(text, {"type": "image_url", "image_url": {"url": image.data_url}})
            recorded_content = self.with_image(text, {"type": "image_url", "image_url": {"url": image.placeholder}})
        sent.append({"role": "user", "content": content})
        recorded = [*sent[:-1], {"role": "user", "content": recorded_content}]
        if answer_prefix is not None:
            sent.append({"role": "assistant", "content": answer_prefix})
            recorded.append({"role": "assistant", "content": answer_prefix})
        return sent, recorded

    def _limit(self, tokens: int) -> dict[str, int]:
        # OpenAI's newer models take only max_completion_tokens; servers of the compatible kind take max_tokens.
        return {"max_tokens": tokens} if self.kind == "compatible" else {"max_completion_tokens": tokens}

    async def _create(
        self, meta: dict[str, Any], recorded: list[dict[str, Any]], worst_cost: float, **request: Any
    ) -> dict[str, Any]:
        """The request sent; its reply as a dict (the server's error when it is not a JSON object)."""
        meta["request"] = {"model": self.model_name, **{k: v for k, v in request.items() if k != "messages"}}
        meta["request"]["messages"] = recorded
        reply = await self.send(
            lambda: self.client.chat.completions.create(model=self.model_name, **request), meta, worst_cost
        )
        data = reply_object(reply, self.name, "a chat completion")
        meta["response_id"] = data.get("id")
        meta["response_model"] = data.get("model")
        return data

    def usage(self, reply: Any) -> tuple[int | None, int | None]:
        data = reply_object(reply, self.name, "a chat completion")
        usage = data.get("usage")
        if usage is None:
            return None, None
        if not isinstance(usage, dict):
            raise ServerError(f"{self.name}: the server stated usage {usage!r:.60}, which is not an object")
        return (
            token_count(usage.get("prompt_tokens"), self.name, "prompt_tokens"),
            token_count(usage.get("completion_tokens"), self.name, "completion_tokens"),
        )

    def _choice(self, data: dict[str, Any]) -> dict[str, Any]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ServerError(f"{self.name}: the server's reply has no choices: {shown(choices)}")
        choice = choices[0]
        if not isinstance(choice, dict):
            raise ServerError(f"{self.name}: the server's reply has a choice that is not an object: {shown(choice)}")
        return choice

    async def ask(self, query: Query) -> Answer:
        if query.mode == "greedy":
            return await self._greedy(query)
        if query.mode == "prefix":
            return await self._prefix(query)
        meta: dict[str, Any] = {}
        messages, recorded = self._messages(query)
        sampling: dict[str, Any] = {"temperature": self.settings.temperature, "seed": self.settings.seed}
        if self.settings.top_p is not None:
            sampling["top_p"] = self.settings.top_p
        reply = await self._create(
            meta,
            recorded,
            self.worst_cost(query),
            messages=messages,
            **self._limit(self.settings.max_new_tokens),
            **sampling,
        )
        return Answer(self._text(reply, meta), meta=meta)

    def _text(self, reply: dict[str, Any], meta: dict[str, Any]) -> str:
        choice = self._choice(reply)
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ServerError(f"{self.name}: the server's reply has no message: {shown(message)}")
        meta["finish_reason"] = choice.get("finish_reason")
        refusal, content = message.get("refusal"), message.get("content")
        if refusal:
            # A refusal is an answer (invalid, with its words kept), not an error to retry.
            meta["refusal"] = True
            return str(refusal)
        if content is not None and not isinstance(content, str):
            raise ServerError(f"{self.name}: the server's message content is not text: {shown(content)}")
        return content or ""

    async def _greedy(self, query: Query) -> Answer:
        meta: dict[str, Any] = {}
        messages, recorded = self._messages(query)
        reply = await self._create(
            meta,
            recorded,
            self.worst_cost(query, max_tokens=1),
            messages=messages,
            temperature=0.0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
            **self._limit(1),
        )
        listed = self._top_logprobs(self._choice(reply))
        meta["top_logprobs"] = [[token, round(logprob, 6)] for token, logprob in listed]
        letters: dict[str, float] = {}
        for letter in LETTERS:
            values = [logprob for token, logprob in listed if token.strip() == letter]
            if values:
                peak = max(values)
                letters[letter] = peak + math.log(sum(math.exp(v - peak) for v in values))
        absent = [letter for letter in LETTERS if letter not in letters]
        if absent:
            meta["absent"] = absent
        if not letters:
            return Answer(None, meta=meta)
        top_letter = max(letters, key=lambda letter: letters[letter])
        if len(letters) == 2:
            peak = max(letters.values())
            total = sum(math.exp(v - peak) for v in letters.values())
            scores = {letter: math.exp(letters[letter] - peak) / total for letter in letters}
        else:
            scores = {letter: math.exp(value) for letter, value in letters.items()}
        meta["p_vocab"] = {letter: math.exp(value) for letter, value in letters.items()}
        return Answer(top_letter, scores, top_letter if top_letter in ("A", "B") else None, meta)  # type: ignore[arg-type]

    def _top_logprobs(self, choice: dict[str, Any]) -> list[tuple[str, float]]:
        """(token, log-probability) of the first generated position's alternatives, checked."""
        logprobs = choice.get("logprobs")
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if content is None or content == []:
            raise ModelError(f"{self.name}: the server returned no log-probabilities (it must support logprobs)")
        if not isinstance(content, list) or not isinstance(content[0], dict):
            raise ServerError(f"{self.name}: the server's logprobs.content is not a list of tokens: {shown(content)}")
        top = content[0].get("top_logprobs") or []
        if not isinstance(top, list):
            raise ServerError(f"{self.name}: the server's top_logprobs is not a list: {shown(top)}")
        listed = []
        for entry in top[:TOP_LOGPROBS]:
            token = entry.get("token") if isinstance(entry, dict) else None
            if not isinstance(token, str):
                raise ServerError(f"{self.name}: the server sent a top_logprobs entry without a token: {shown(entry)}")
            listed.append((token, log_probability(entry.get("logprob"), self.name, f"the logprob of {token!r:.20}")))
        return listed

    async def _prompt_tokens(
        self, query: Query, option: str | None, meta: dict[str, Any]
    ) -> list[tuple[int, float | None]]:
        """(token id, log-probability) of every prompt token, as vLLM's prompt_logprobs give them."""
        messages, recorded = self._messages(query, option)
        extra: dict[str, Any] = {"prompt_logprobs": 0}
        if option is None:
            extra |= {"add_generation_prompt": True}
        else:
            extra |= {"add_generation_prompt": False, "continue_final_message": True}
        reply = await self._create(
            meta,
            recorded,
            self.worst_cost(query, option or "", max_tokens=1),
            messages=messages,
            temperature=0.0,
            extra_body=extra,
            **self._limit(1),
        )
        entries = reply.get("prompt_logprobs")
        if entries is None:
            raise ModelError(
                f"{self.name}: the server returned no prompt_logprobs; prefix mode needs a server that does "
                "(vLLM's OpenAI server)"
            )
        if not isinstance(entries, list):
            raise ServerError(f"{self.name}: the server's prompt_logprobs is not a list: {shown(entries)}")
        return [self._prompt_token(entry) for entry in entries]

    def _prompt_token(self, entry: object) -> tuple[int, float | None]:
        """One prompt_logprobs entry, {token id: {"logprob": x, ...}}, checked; (-1, None) where empty."""
        if not entry:
            return (-1, None)  # the first prompt token has no log-probability
        if not isinstance(entry, dict):
            raise ServerError(
                f"{self.name}: the server sent a prompt_logprobs entry that is not an object: {shown(entry)}"
            )
        token, info = next(iter(entry.items()))
        if not str(token).lstrip("-").isdigit() or len(str(token)) > 12:
            raise ServerError(f"{self.name}: the server sent {shown(token)} as a prompt token id")
        logprob = info.get("logprob") if isinstance(info, dict) else None
        where = f"the prompt logprob of token {token}"
        return (int(token), None if logprob is None else log_probability(logprob, self.name, where))

    async def _prefix(self, query: Query) -> Answer:
        meta: dict[str, Any] = {}
        base = await self._prompt_tokens(query, None, meta)
        scores: dict[str, float] = {}
        spans: dict[str, list[int]] = {}
        for letter, option in zip(LETTERS, query.options, strict=True):
            full = await self._prompt_tokens(query, option, meta)
            start = next(
                (i for i, (a, b) in enumerate(zip(base, full, strict=False)) if a[0] != b[0]), min(len(base), len(full))
            )
            option_tokens = full[start:]
            values = [logprob for _, logprob in option_tokens if logprob is not None]
            if not values:
                raise ModelError(f"{self.name}: option {option!r} produced no tokens after the prompt")
            scores[letter] = sum(values) / len(values)
            spans[letter] = [token for token, _ in option_tokens]
        meta["option_tokens"] = spans
        meta["prefix_tokens"] = "context"
        a, b = scores["A"], scores["B"]
        decided: Letter | None = "A" if a > b else ("B" if b > a else None)
        return Answer(decided, scores, decided, meta)
