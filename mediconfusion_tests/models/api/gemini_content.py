"""Google's Gemini through the Google GenAI SDK (``google-genai``): ``mc`` and ``freeform``.

The prompt text goes first, then the image as inline bytes, as the original
harness sent them (``Models/gemini.py``: ``generate_content([question, img])``;
this suite put the image first until --image-position existed, so answers stored
then are keyed as ``before``); the prompt file's initial prompt is the system
instruction. A reply blocked for safety (no text, finish reason SAFETY,
PROHIBITED_CONTENT...) is kept as an empty answer with its reason, not retried.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.api.client import ApiModel, ApiSettings, ServerError, reply_object, token_count
from mediconfusion_tests.models.api.images import inline
from mediconfusion_tests.models.base import Answer, Query
from mediconfusion_tests.quoting import shown

if TYPE_CHECKING:
    from mediconfusion_tests.models.api.secrets import Environment


class GeminiContent(ApiModel):
    modes = frozenset({"mc", "freeform", "judge"})
    legacy_image_position = "before"

    def __init__(self, *, name: str, model_name: str, settings: ApiSettings, env: Environment) -> None:
        super().__init__(name, model_name, settings)
        try:
            from google import genai
            from google.genai import types
        except ImportError as exc:
            raise ModelError(
                "this model needs the google-genai package: pip install google-genai (in the api extra)"
            ) from exc
        self.types = types
        base = env.get("GEMINI_BASE_URL") or env.get("GOOGLE_GEMINI_BASE_URL")
        self.endpoint = base or "https://generativelanguage.googleapis.com"
        from mediconfusion_tests.models.api.http import CappedTransport

        options: dict[str, Any] = {
            "timeout": int(settings.timeout * 1000),
            "async_client_args": {"transport": CappedTransport()},
        }
        if base:
            options["base_url"] = base
        self.client = genai.Client(
            api_key=env.secret("GEMINI_API_KEY") or env.secret("GOOGLE_API_KEY"),
            http_options=types.HttpOptions(**options),
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": self.endpoint}

    async def aclose(self) -> None:
        closer = getattr(self.client.aio, "aclose", None)
        if closer is not None:
            await closer()

    async def ask(self, query: Query) -> Answer:
        types = self.types
        text = types.Part.from_text(text=query.prompt)
        parts: list[Any] = [text]
        recorded: list[Any] = [{"text": query.prompt}]
        if query.image_path:
            image = inline(query.image_path)
            parts = self.with_image(
                text, types.Part.from_bytes(data=base64.b64decode(image.data), mime_type=image.mime)
            )
            recorded = self.with_image(recorded[0], {"inline_data": image.placeholder})
        config: dict[str, Any] = {
            "temperature": self.settings.temperature,
            "max_output_tokens": self.settings.max_new_tokens,
        }
        if self.settings.top_p is not None:
            config["top_p"] = self.settings.top_p
        if query.system:
            config["system_instruction"] = query.system
        meta: dict[str, Any] = {
            "request": {"model": self.model_name, "contents": [{"role": "user", "parts": recorded}], "config": config}
        }
        reply = await self.send(
            lambda: self.client.aio.models.generate_content(
                model=self.model_name,
                contents=[types.Content(role="user", parts=parts)],
                config=types.GenerateContentConfig(**config),
            ),
            meta,
            self.worst_cost(query),
        )
        data = reply_object(reply, self.name, "a generateContent response")
        candidates = data.get("candidates") or []
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            raise ServerError(f"{self.name}: the server's candidates are not a list of objects: {shown(candidates)}")
        reason = candidates[0].get("finish_reason") if candidates else None
        meta["finish_reason"] = str(getattr(reason, "value", reason)) if reason is not None else None
        texts = []
        for candidate in candidates[:1]:
            content = candidate.get("content") or {}
            parts_sent = content.get("parts") if isinstance(content, dict) else None
            for part in parts_sent or []:
                text = part.get("text") if isinstance(part, dict) else None
                if text is not None and not isinstance(text, str):
                    raise ServerError(f"{self.name}: the server sent a part whose text is not text: {shown(part)}")
                if text:
                    texts.append(text)
        if not texts and meta["finish_reason"] not in (None, "STOP", "MAX_TOKENS"):
            meta["refusal"] = True
        return Answer("".join(texts), meta=meta)

    def usage(self, reply: Any) -> tuple[int | None, int | None]:
        usage = reply_object(reply, self.name, "a generateContent response").get("usage_metadata")
        if not isinstance(usage, dict):
            return None, None
        return (
            token_count(usage.get("prompt_token_count"), self.name, "prompt_token_count"),
            token_count(usage.get("candidates_token_count"), self.name, "candidates_token_count"),
        )
