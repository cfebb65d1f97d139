"""`python -m local up` serves the live view on the port asked for, and says so when the port is taken."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _url_from_output(process: subprocess.Popen, lines: list[str], timeout: float) -> str:
    """The live view's URL from `local up`'s startup output (read on a thread, so a silent process cannot hang us)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "live view" in line:
                found.put(line.split("live view", 1)[1].strip())

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no live view URL within {timeout:g} s; output so far: {''.join(lines)}") from None


def test_local_up_serves_the_live_view_and_stops_on_sigterm(tmp_path):
    # Port 0: the view binds a free port itself and prints it (no window for another process to take it).
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "up", "--run-dir", str(tmp_path), "--web-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        url = _url_from_output(process, lines, timeout=60)
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 0 and url == f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}api/summary", timeout=5) as response:
                    summary = json.loads(response.read())
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the live view did not answer within 60 s"
                time.sleep(0.2)
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        assert summary["families"] == ["sensor", "student", "log", "change"]
        assert "throughput-chart" in page
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)  # stdout is still drained by the reader thread
        err = process.stderr.read()
        process.stderr.close()
    assert process.returncode == 0, err


def test_a_taken_port_is_a_clear_error_not_a_traceback(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "local", "up", "--run-dir", str(tmp_path), "--web-port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert f"cannot serve the live view on 127.0.0.1:{port}" in result.stderr
    assert "--web-port N" in result.stderr and "--no-web" in result.stderr
    assert "Traceback" not in result.stderr
