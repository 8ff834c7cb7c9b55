"""Anthropic's Messages API (Claude): ``mc`` and ``freeform``.

The image goes first as a base64 block, then the prompt text (Anthropic's
recommended order, and the original harness's in ``Models/claude.py``;
``--image-position=after`` turns it round); the prompt file's initial prompt is the system prompt.
A refusal (``stop_reason: refusal``) is kept as the answer's text, not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.api.client import ApiModel, ApiSettings, ServerError, reply_object, token_count
from mediconfusion_tests.models.api.images import inline
from mediconfusion_tests.models.base import Answer, Query
from mediconfusion_tests.quoting import shown

if TYPE_CHECKING:
    from mediconfusion_tests.models.api.secrets import Environment


class AnthropicMessages(ApiModel):
    modes = frozenset({"mc", "freeform", "judge"})
    default_image_position = legacy_image_position = "before"

    def __init__(self, *, name: str, model_name: str, settings: ApiSettings, env: Environment) -> None:
        super().__init__(name, model_name, settings)
        try:
            import anthropic
        except ImportError as exc:
            raise ModelError(
                "this model needs the anthropic package: pip install anthropic (in the api extra)"
            ) from exc
        from mediconfusion_tests.models.api.http import CappedTransport

        self.endpoint = env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        self.client = anthropic.AsyncAnthropic(
            api_key=env.secret("ANTHROPIC_API_KEY"),
            base_url=env.get("ANTHROPIC_BASE_URL"),
            max_retries=0,
            timeout=settings.timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(transport=CappedTransport()),
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": self.endpoint}

    async def aclose(self) -> None:
        await self.client.close()

    def _sdk(self, request: dict[str, Any]) -> dict[str, Any]:
        """Sampling settings the installed SDK no longer names go in the body as they are."""
        import inspect

        accepted = inspect.signature(self.client.messages.create).parameters
        extra = {k: request[k] for k in ("temperature", "top_p") if k in request and k not in accepted}
        kept = {k: v for k, v in request.items() if k not in extra}
        return {**kept, "extra_body": extra} if extra else kept

    async def ask(self, query: Query) -> Answer:
        text = {"type": "text", "text": query.prompt}
        content: list[dict[str, Any]] = [text]
        recorded: list[dict[str, Any]] = [text]
        if query.image_path:
            image = inline(query.image_path)
            content = self.with_image(
                text, {"type": "image", "source": {"type": "base64", "media_type": image.mime, "data": image.data}}
            )
            recorded = self.with_image(text, {"type": "image", "source": image.placeholder})
        request: dict[str, Any] = {
            "max_tokens": self.settings.max_new_tokens,
            "temperature": self.settings.temperature,
            "messages": [{"role": "user", "content": content}],
        }
        if self.settings.top_p is not None:
            request["top_p"] = self.settings.top_p
        if query.system:
            request["system"] = query.system
        meta: dict[str, Any] = {
            "request": {"model": self.model_name, **request, "messages": [{"role": "user", "content": recorded}]}
        }
        reply = await self.send(
            lambda: self.client.messages.create(model=self.model_name, **self._sdk(request)),
            meta,
            self.worst_cost(query),
        )
        data = reply_object(reply, self.name, "a message")
        meta["response_id"] = data.get("id")
        meta["finish_reason"] = data.get("stop_reason")
        if meta["finish_reason"] == "refusal":
            meta["refusal"] = True
        blocks = data.get("content") or []
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise ServerError(f"{self.name}: the server's message content is not a list of blocks: {shown(blocks)}")
        texts = [b.get("text") for b in blocks if b.get("type") == "text"]
        if not all(isinstance(t, str) for t in texts):
            raise ServerError(f"{self.name}: the server sent a text block without text: {shown(blocks)}")
        return Answer("".join(texts), meta=meta)

    def usage(self, reply: Any) -> tuple[int | None, int | None]:
        usage = reply_object(reply, self.name, "a message").get("usage")
        if not isinstance(usage, dict):
            return None, None
        return (
            token_count(usage.get("input_tokens"), self.name, "input_tokens"),
            token_count(usage.get("output_tokens"), self.name, "output_tokens"),
        )
