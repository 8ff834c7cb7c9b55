"""The HTTP layer under every SDK: a server's reply is read up to a bound, never whole whatever its size.

A chat reply is a few kilobytes; with vLLM's prompt log-probabilities a few
hundred. ``MAX_REPLY_BYTES`` leaves ample room for both and stops a server that
streams megabytes (by mistake or on purpose) before it fills memory or the
answer store: the read ends there and the request fails as the server's error,
without retries (a second try would be as large).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: The most of one reply's body that is read (bytes).
MAX_REPLY_BYTES = 8 * 1024 * 1024


class ReplyTooLarge(Exception):
    """The server's reply is longer than MAX_REPLY_BYTES."""

    def __init__(self, url: str, size: int | None = None) -> None:
        said = f" (it announced {size} bytes)" if size is not None else ""
        super().__init__(
            f"the server's reply from {url} is larger than the {MAX_REPLY_BYTES // (1024 * 1024)} MiB "
            f"the suite reads{said}; nothing of it was kept"
        )


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, url: str, limit: int) -> None:
        self.inner, self.url, self.limit = inner, url, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = 0
        async for chunk in self.inner:
            read += len(chunk)
            if read > self.limit:
                raise ReplyTooLarge(self.url)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class CappedTransport(httpx2.AsyncBaseTransport):
    """httpx's own transport, with every response body bounded."""

    def __init__(self, limit: int = MAX_REPLY_BYTES) -> None:
        # The SDKs' own connection limits (their default clients use the same).
        self.inner = httpx2.AsyncHTTPTransport(
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        )
        self.limit = limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        url = str(request.url).split("?", 1)[0]
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > self.limit:
            await response.aclose()
            raise ReplyTooLarge(url, int(announced))
        response.stream = _CappedStream(response.stream, url, self.limit)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def too_large(exc: BaseException) -> ReplyTooLarge | None:
    """The ReplyTooLarge behind an SDK's exception (they wrap transport errors), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ReplyTooLarge):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
