"""The live pipeline view: a page (and JSON endpoints) showing events, alerts and the lake as they happen.

    with LocalStack(config, options) as stack, WebView(stack, port=5000):
        ...  # open http://127.0.0.1:5000/

`python -m local up` and `make demo ARGS=--continuous` start it on port 5000 (`--web-port N`, `--no-web`).
docs/web.md describes the panels, the endpoints and what the view costs the pipeline.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from local.web.live import LiveView

DEFAULT_PORT = 5000
DEFAULT_HOST = "127.0.0.1"


class WebViewError(RuntimeError):
    """The view cannot start (its port is taken)."""


class WebView:
    """The live view's readers and its HTTP server on a thread; `start()` after the stack, `stop()` before it."""

    def __init__(self, stack: Any, *, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, **options: Any) -> None:
        """`options` go to LiveView: `tap_interval`, `sample_interval`, `lake_interval`, `reader`."""
        self.stack = stack
        self.host = host
        self.requested_port = port
        self.live = LiveView(stack, **options)
        self._server: Any = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WebView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1] if self._socket else self.requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> WebView:
        from werkzeug.serving import make_server

        from local.web.app import create_app

        # One access-log line per request would bury the stack's status lines.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # Bound here, not by werkzeug, which prints and exits the process when the port is taken.
        self._socket = listening_socket(self.host, self.requested_port)
        port = self._socket.getsockname()[1]
        self._server = make_server(self.host, port, create_app(self.live), threaded=True, fd=self._socket.fileno())
        self.live.start()
        self._thread = threading.Thread(target=self._server.serve_forever, name="web-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.live.stop()  # ends the server-sent event streams too
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port (0: a free port); WebViewError saying what to do when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise WebViewError(
            f"cannot serve the live view on {host}:{port} ({error.strerror or error}); "
            "pass --web-port N for another port or --no-web to run without it"
        ) from None
    return sock


__all__ = ["DEFAULT_PORT", "LiveView", "WebView", "WebViewError"]
