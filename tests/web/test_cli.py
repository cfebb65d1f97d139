"""`python -m local up` serves the live view on the port asked for, and says so when the port is taken."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_up_serves_the_live_view_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "up", "--run-dir", str(tmp_path), "--web-port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=5) as response:
                    summary = json.loads(response.read())
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the live view did not answer within 60 s"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            page = response.read().decode()
        assert summary["families"] == ["sensor", "student", "log", "change"]
        assert "throughput-chart" in page
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"live view     http://127.0.0.1:{port}/" in out


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
