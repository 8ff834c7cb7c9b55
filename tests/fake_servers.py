"""A local HTTP server that plays the PMC Cloud bucket or Europe PMC, and a byte-counting file."""

from __future__ import annotations

import io
import threading
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Reply:
    """What one URL answers; ``fail_first`` answers the first N requests with a 503 (or a short body)."""

    status: int = 200
    body: bytes = b""
    fail_first: int = 0
    truncate_first: int = 0
    content_type: str = "application/octet-stream"


@dataclass
class FakeServer:
    routes: dict[str, Reply] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    base_url: str = ""
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: bytes = b"", **kwargs: Any) -> None:
        self.routes[path] = Reply(body=body, **kwargs)

    def listing(self, pmcid: str, versions: list[int]) -> None:
        """The ListObjectsV2 answer for prefix=<pmcid>. and delimiter=/."""
        prefixes = "".join(f"<CommonPrefixes><Prefix>{pmcid}.{v}/</Prefix></CommonPrefixes>" for v in versions)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>pmc-oa-opendata</Name><Prefix>{pmcid}.</Prefix><Delimiter>/</Delimiter>"
            f"<KeyCount>{len(versions)}</KeyCount><IsTruncated>false</IsTruncated>{prefixes}</ListBucketResult>"
        )
        query = urllib.parse.urlencode({"list-type": "2", "prefix": f"{pmcid}.", "delimiter": "/"})
        self.add(f"/?{query}", xml.encode(), content_type="application/xml")

    def answer(self, path: str) -> tuple[Reply, int]:
        with self._lock:
            self.log.append(path)
            count = self._seen.get(path, 0)
            self._seen[path] = count + 1
        return self.routes.get(path, Reply(404, b"<Error><Code>NoSuchKey</Code></Error>")), count


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply, count = server.answer(self.path)
            if count < reply.fail_first:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if count < reply.truncate_first:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.close_connection = True
                return
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def serve(server: FakeServer) -> Iterator[FakeServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


class CountingFile(io.RawIOBase):
    """A read-only file that adds every byte it hands out to a shared counter."""

    def __init__(self, raw: BinaryIO, counter: list[int]) -> None:
        self.raw = raw
        self.counter = counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.counter[0] += len(data)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()
