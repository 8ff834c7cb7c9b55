"""fetch-images under bad arguments, a trickling server and Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from helpers import entry, write_image_dict

from mediconfusion_tests.cli import main
from mediconfusion_tests.data.image_sources import Http, SourceError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextmanager
def trickling(pause_s: float = 0.2, size: int = 10_000, asked: threading.Event | None = None) -> Iterator[str]:
    """A server that sends its body one byte per pause: never silent long enough to hit a socket timeout.
    ``asked`` is set when the first request arrives (a download is under way)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if asked is not None:
                asked.set()
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                for _ in range(size):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(pause_s)
            except OSError:
                return

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--limit", "-1", "argument --limit: must be at least 0, got -1"),
        ("--retries", "-1", "argument --retries: must be at least 0, got -1"),
        ("--jobs", "0", "argument --jobs: must be at least 1, got 0"),
        ("--jobs", "many", "argument --jobs: expected a whole number, got 'many'"),
        ("--deadline", "inf", "argument --deadline: must be a positive number of seconds, got 'inf'"),
    ],
)
def test_bad_numbers_are_refused_with_a_message(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["fetch-images", flag, value])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_out_pointing_at_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "images").write_text("a file")
    assert main(["fetch-images", "--out", str(tmp_path / "images"), "--dataset", str(tmp_path)]) == 2
    assert f"--out {tmp_path / 'images'} is a file; give a folder for the images" in capsys.readouterr().err


def test_a_trickling_download_stops_at_its_deadline() -> None:
    with trickling() as url:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"download took longer than 1 s"):
            Http(retries=0, timeout_s=30, deadline_s=1.0).get(url + "/x.jpg")
        assert time.monotonic() - started < 5


def test_ctrl_c_ends_with_one_line_and_keeps_the_manifest(tmp_path: Path) -> None:
    dataset = write_image_dict(tmp_path / "MediConfusion", [entry(20000 + i, f"PMC{i}", "f.jpg") for i in range(3)])
    out = tmp_path / "images"
    asked = threading.Event()
    with trickling(pause_s=0.05, asked=asked) as url:
        command = [sys.executable, "-m", "mediconfusion_tests.cli", "fetch-images", "--dataset", str(dataset)]
        command += ["--out", str(out), "--source", "europepmc", "--europepmc-base-url", url, "--deadline", "30"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Interrupted once a download is under way (the server was asked), however slow the machine is.
        assert asked.wait(timeout=120), "fetch-images never asked the server"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"interrupted: the images already fetched are kept in {out} (see its manifest.json); "
        "run the same command again to fetch the rest"
    ]
    assert (out / "manifest.json").is_file()
