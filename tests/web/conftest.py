"""A running local stack with the live view on a free port, and helpers to read the view's JSON endpoints."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack import LocalOptions, LocalStack
from local.web import WebView
from streamlake.config import load_config


@dataclass
class Live:
    stack: LocalStack
    web: WebView

    @property
    def url(self) -> str:
        return self.web.url

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@contextmanager
def live_stack(run_dir: Path) -> Iterator[Live]:
    """The local stack (1 s Firehose buffer, alarms every second) with the live view on a free port.

    Its resources get a fresh name prefix: moto keeps state per process, and a moto server another test package
    left running would otherwise hand this stack a stream that already holds that package's records."""
    config = load_config({"prefix": f"web{uuid.uuid4().hex[:8]}"})
    options = LocalOptions(run_dir, buffer_seconds=1.0, alarm_interval_seconds=1.0)
    with LocalStack(config, options) as stack, WebView(stack, port=0) as web:
        yield Live(stack, web)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
