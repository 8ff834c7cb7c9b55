"""Open a report in headless Chromium (Playwright with the system browser) to check or photograph it.

Used by our browser test and by ``scripts/screenshot_report.py``; needs the
``playwright`` package and a Chromium (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Flags for a root user on a machine whose network is closed: no sandbox, no background requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Console lines of the page opened last, for the message of a timed-out wait.
CONSOLE: list[str] = []


def chromium_path() -> str | None:
    explicit = os.environ.get("MEDICONFUSION_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def open_page(
    report: Path, width: int = 1280, height: int = 900, cpu_slowdown: float = 1.0
) -> Iterator[tuple[Any, list[str]]]:
    """(page, JavaScript errors seen so far) for a report opened from disk.

    ``cpu_slowdown`` > 1 throttles the page's CPU (Chromium's DevTools emulation)
    so that races between a page's scripts show every time, not once in twenty.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: apt-get install chromium, or set MEDICONFUSION_CHROMIUM")
    CONSOLE.clear()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: CONSOLE.append(f"{message.type}: {message.text}"))
            if cpu_slowdown > 1:
                devtools = page.context.new_cdp_session(page)
                devtools.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
            page.goto(report.resolve().as_uri())
            yield page, errors
        finally:
            browser.close()


def wait_for_text(page: Any, text: str, timeout_s: float) -> float:
    """Seconds until ``text`` shows in the page; on a timeout, an error that says what the page showed instead."""
    import json
    import time

    started = time.monotonic()
    check = f"() => document.body !== null && document.body.innerText.includes({json.dumps(text)})"
    try:
        # Interval polling: the default requestAnimationFrame polling waits on frames a busy headless tab may not paint.
        page.wait_for_function(check, polling=250, timeout=timeout_s * 1000)
    except Exception as error:
        shown = "() => [document.readyState, document.body ? document.body.innerText.slice(0, 300) : null]"
        state = page.evaluate(shown)
        raise AssertionError(
            f"{text!r} not shown after {timeout_s:.0f} s; readyState {state[0]}, page text {state[1]!r}, "
            f"console {CONSOLE[-10:]}"
        ) from error
    return time.monotonic() - started
