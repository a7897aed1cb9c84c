"""Pages rendered in headless Chromium (Debian's `chromium`, driven by Playwright), with the
network cut off: what a page asked for outside the allowed origin, what failed, what it logged as
an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest


@dataclass
class Rendered:
    url: str
    title: str = ""
    text: str = ""
    blocked: list[str] = field(default_factory=list)  # requests outside the allowed origin
    failed: list[str] = field(default_factory=list)  # requests that failed, with why
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions

    @property
    def problems(self) -> list[str]:
        return (
            [f"blocked: {u}" for u in self.blocked]
            + [f"failed: {u}" for u in self.failed]
            + [f"error: {e}" for e in self.errors]
        )


def chromium_path() -> str:
    found = os.environ.get("OMNI360_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "Chromium not found: ./scripts/test.sh installs Debian's chromium (apt), or set "
            "OMNI360_CHROMIUM to a Chromium binary"
        )
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return "file://" if parts.scheme == "file" else f"{parts.scheme}://{parts.netloc}"


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


def render(
    launched: object,
    url: str,
    *,
    wait_for: str | None = None,
    screenshot: Path | None = None,
    settle_ms: int = 500,
) -> Rendered:
    """Load `url` with every request outside its origin refused; wait for `wait_for` (a CSS
    selector) if given, then for the network to go idle."""
    allowed = _origin(url)
    seen = Rendered(url)
    context = launched.new_context(viewport={"width": 1280, "height": 900})

    def route(request_route, request) -> None:
        if _origin(request.url) == allowed or request.url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            seen.blocked.append(request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: (
            _origin(request.url) == allowed
            # a request the page cancelled itself (a superseded fetch) did not fail
            and request.failure != "net::ERR_ABORTED"
            and seen.failed.append(f"{request.url} ({request.failure})")
        ),
    )
    try:
        page.goto(url, wait_until="load", timeout=60_000)
        if wait_for:
            page.wait_for_selector(wait_for, timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=60_000)
        page.wait_for_timeout(settle_ms)
        seen.title = page.title()
        seen.text = page.inner_text("body")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return seen
