"""The live view's cost: page load time, and the local pipeline's throughput with and without the view open.

Throughput: each trial starts a fresh local stack, a producer in another process sends RECORDS mixed records to it
unpaced, and the processor's rate is timed from its first finished record to its last (records/s): the pipeline
working through a backlog, flat out, the case where anything else in its process slows it most. Modes, interleaved
round by round in one run so that the machine's drift hits them alike, each compared with its round's `no view`:

- `no view`                  the stack alone (`--no-web`);
- `view, idle`               the view's readers and server running, no page open;
- `view open`                plus a client in another process doing what an open page does: connected to
                             /api/stream (server-sent events) and polling the six panel endpoints every 2 s;
- `page in Chromium`         (when /usr/bin/chromium and playwright are there) the real page open in headless
                             Chromium, which also spends this machine's CPU on rendering.

Throughputs on this 2-core machine vary by 10-20 % from one trial to the next whatever the mode, so the bench also
measures the CPU the pipeline's process spends per record on the pipeline's own work and on the view's (reading the
stream in process, the default, or over the Kinesis API): that share is the slowdown the view can cause when the
pipeline runs flat out, and it depends much less on what else the machine is doing.

Goal (issue 10): no measurable slowdown, <= 5 %. Page load: headless Chromium, a fresh browser context each time
(cold cache), against a stack with data flowing: navigation to the load event, to the first throughput sample on the
chart, and to every panel filled. Run: `.venv/bin/python bench/bench_web.py [--records N] [--rounds R]` (about
seven minutes with the defaults).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

RECORDS = 4_000
ROUNDS = 5
PAGE_LOADS = 7
PANELS = ("/api/events", "/api/sensors", "/api/students", "/api/alarms", "/api/mail", "/api/lake")


def _chromium_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM.exists()


# -- a page's worth of requests, from another process ----------------------------------------------------------


def view_client(url: str, stop: Any, counts: Any) -> None:
    """What an open page does: one SSE connection, and the panel endpoints every 2 s. Runs in its own process."""

    def listen() -> None:
        with urllib.request.urlopen(url + "api/stream", timeout=30) as response:
            while not stop.is_set():
                line = response.readline()
                if not line:
                    return
                if line.startswith(b"id: "):
                    counts[0] += 1

    threading.Thread(target=listen, daemon=True).start()
    while not stop.wait(2.0):
        for path in PANELS:
            with urllib.request.urlopen(url + path.lstrip("/"), timeout=30) as response:
                response.read()
            counts[1] += 1


# -- one throughput trial --------------------------------------------------------------------------------------


def trial(mode: str, browser: Any = None) -> dict[str, float]:
    from local.stack import LocalOptions, LocalStack
    from local.web import WebView
    from streamlake.config import load_config

    config = load_config({"prefix": f"bench{uuid.uuid4().hex[:6]}"})
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as cleanup:
        stack = cleanup.enter_context(LocalStack(config, LocalOptions(Path(tmp), buffer_seconds=5.0)))
        samples_seen = None
        if mode != "no view":
            web = cleanup.enter_context(WebView(stack, port=0))
            if mode.startswith("view open"):
                context = multiprocessing.get_context("spawn")
                stop, counts = context.Event(), context.Array("i", 2)
                client = context.Process(target=view_client, args=(web.url, stop, counts), daemon=True)
                client.start()
                cleanup.callback(client.join, 10)
                cleanup.callback(stop.set)
                time.sleep(2.5)  # connected and a first round of panel requests done
                samples_seen = counts
            elif mode == "page in Chromium":
                page = browser.new_page()
                cleanup.callback(page.close)
                page.goto(web.url)
                page.wait_for_selector("#connection.on", timeout=10_000)
        # The producer runs in its own process, unpaced, so the stack's process does only the pipeline's work
        # (and the view's); the clock starts when the processor has finished its first record.
        producer = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "producers" / "test_producer.py"),
                "--endpoint-url",
                stack.endpoint.url,
                "--stream",
                stack.resources.stream_name,
                "--count",
                str(RECORDS),
                "--family",
                "mixed",
                "--bad-ratio",
                "0.02",
                "--seed",
                "5",
                "--no-shard-pacing",
                "--failures-file",
                str(Path(tmp) / "failures.jsonl"),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        poller = stack.poller

        def finished() -> int:
            return poller.stats.records_succeeded + poller.stats.records_discarded

        deadline = time.monotonic() + 300
        while finished() == 0:
            if time.monotonic() > deadline or producer.poll() not in (None, 0):
                raise TimeoutError(f"{mode}: nothing was processed")
            time.sleep(0.002)
        started, cpu_started, first = time.perf_counter(), time.process_time(), finished()
        while finished() < RECORDS:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{mode}: the processor did not finish {RECORDS} records in 300 s")
            time.sleep(0.002)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        summary = json.loads(producer.communicate(timeout=60)[0].strip().splitlines()[-1])
        if samples_seen is not None:
            before = samples_seen[0]
            time.sleep(1.2)
            assert samples_seen[0] > before, "the view client stopped receiving samples"
        return {
            "processed_per_s": (RECORDS - first) / elapsed,
            # CPU of this process (pipeline, view, its server) per record: what the view takes from the pipeline.
            "cpu_us_per_record": cpu / (RECORDS - first) * 1e6,
            "produced_per_s": summary["records_per_second"],
        }


# -- CPU per record --------------------------------------------------------------------------------------------


def cpu_per_record(reader: str) -> dict[str, float]:
    """CPU seconds of this process per record: the view (with `reader`) catching up on RECORDS records with the
    runners stopped, then the runners (processor, Firehose, alarms, mailbox) doing their work on the same records
    without the view. Unlike throughput, this hardly depends on what else the machine is doing."""
    from local.stack import LocalOptions, LocalStack
    from local.web import WebView
    from producers.test_producer import produce
    from streamlake.config import load_config

    config = load_config({"prefix": f"bench{uuid.uuid4().hex[:6]}"})
    with tempfile.TemporaryDirectory() as tmp, LocalStack(config, LocalOptions(Path(tmp), buffer_seconds=1.0)) as stack:
        stack.stop_runners()
        summary = produce(
            stack.resources.stream_name,
            count=RECORDS,
            family="mixed",
            rate=None,
            pace=False,
            bad_ratio=0.02,
            seed=5,
            endpoint_url=stack.endpoint.url,
            keep_records=False,
            failure_path=Path(tmp) / "failures.jsonl",
        )
        time.sleep(0.5)
        before = time.process_time()
        with WebView(stack, port=0, reader=reader) as web:
            while sum(web.live.model.totals()["in"].values()) < summary.sent:
                time.sleep(0.01)
            view_cpu = time.process_time() - before
        before = time.process_time()
        stack.start_runners()
        stack.wait_until_processed(timeout=300)
        while stack.firehose.stats.records_in < summary.sent:
            time.sleep(0.01)
        pipeline_cpu = time.process_time() - before
    return {"view_us": view_cpu / summary.sent * 1e6, "pipeline_us": pipeline_cpu / summary.sent * 1e6}


# -- page load -------------------------------------------------------------------------------------------------


def page_loads(browser: Any) -> list[dict[str, float]]:
    from local.stack import LocalOptions, LocalStack
    from local.web import WebView
    from producers.test_producer import produce
    from streamlake.config import load_config

    config = load_config({"prefix": f"bench{uuid.uuid4().hex[:6]}"})
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(config, LocalOptions(Path(tmp), buffer_seconds=2.0)) as stack,
        WebView(stack, port=0) as web,
    ):
        stop = threading.Event()
        producer = threading.Thread(
            target=produce,
            args=(stack.resources.stream_name,),
            kwargs={
                "family": "mixed",
                "rate": 50.0,
                "continuous": True,
                "bad_ratio": 0.03,
                "seed": 9,
                "spikes": 3,
                "endpoint_url": stack.endpoint.url,
                "keep_records": False,
                "failure_path": Path(tmp) / "failures.jsonl",
                "stop": stop,
            },
            daemon=True,
        )
        producer.start()
        time.sleep(6)  # sensors, students, mail and lake objects to show
        try:
            for _ in range(PAGE_LOADS):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})  # cold cache
                page = context.new_page()
                started = time.perf_counter()
                page.goto(web.url, wait_until="load")
                loaded = time.perf_counter()
                page.wait_for_function("() => Number(document.getElementById('throughput-chart').dataset.samples) > 0")
                charted = time.perf_counter()
                for table in ("#sensors", "#students", "#events", "#alarms", "#mail", "#lake-partitions"):
                    page.wait_for_selector(f"{table} tbody tr")
                filled = time.perf_counter()
                transferred = page.evaluate(
                    "() => performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, 0)"
                    " + performance.getEntriesByType('navigation')[0].transferSize"
                )
                results.append(
                    {
                        "load_ms": (loaded - started) * 1000,
                        "chart_ms": (charted - started) * 1000,
                        "panels_ms": (filled - started) * 1000,
                        "bytes": transferred,
                    }
                )
                context.close()
        finally:
            stop.set()
            producer.join(timeout=30)
    return results


def main() -> None:
    global RECORDS, ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=RECORDS, help="records per trial (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds (default %(default)s)")
    args = parser.parse_args()
    RECORDS, ROUNDS = args.records, args.rounds
    modes = ["no view", "view, idle", "view open"]
    with ExitStack() as cleanup:
        browser = None
        if _chromium_available():
            from playwright.sync_api import sync_playwright

            playwright = cleanup.enter_context(sync_playwright())
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            cleanup.callback(browser.close)
            modes.append("page in Chromium")
        else:
            print(f"(no {CHROMIUM} or playwright: page load and the Chromium mode are skipped)")

        trial("no view")  # warm-up: imports, the handler's first load
        costs = {reader: [cpu_per_record(reader) for _ in range(3)] for reader in ("in-process", "api")}
        view_us = {reader: statistics.median(c["view_us"] for c in runs) for reader, runs in costs.items()}
        pipeline_us = statistics.median(c["pipeline_us"] for runs in costs.values() for c in runs)
        print(f"CPU per record: view {view_us}, pipeline {pipeline_us:.0f} us", flush=True)
        results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for round_number in range(ROUNDS):
            order = modes[round_number % len(modes) :] + modes[: round_number % len(modes)]
            for mode in order:
                results[mode].append(trial(mode, browser))
            print(
                f"round {round_number + 1}/{ROUNDS}: "
                + ", ".join(f"{m} {results[m][-1]['processed_per_s']:,.0f}/s" for m in modes),
                flush=True,
            )

        print()
        print(f"CPU of the pipeline's process per record, {RECORDS:,} records, median of 3 runs each:")
        print()
        print("| work | CPU per record | share of the pipeline's |")
        print("|---|---:|---:|")
        print(f"| the pipeline (processor, Firehose, alarms, mailbox) | {pipeline_us:.0f} us | |")
        for reader, label in (("in-process", "in process (default)"), ("api", "over the Kinesis API")):
            print(
                f"| the view reading the stream {label}, counting, state | {view_us[reader]:.1f} us | "
                f"{view_us[reader] / pipeline_us * 100:.1f} % |"
            )
        print()
        print(f"Pipeline throughput, {RECORDS:,} mixed records per trial, median of {ROUNDS} interleaved rounds:")
        print()
        print(
            "| mode | processed records/s (median) | min - max | vs no view (median of per-round ratios) "
            "| CPU of the pipeline's process per record (median) | vs no view |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        base_cpu = statistics.median(r["cpu_us_per_record"] for r in results["no view"])
        for mode in modes:
            processed = [r["processed_per_s"] for r in results[mode]]
            # Each round's ratio to that round's no-view trial cancels most of the machine's drift.
            cpu = statistics.median(r["cpu_us_per_record"] for r in results[mode])
            pairs = zip(results[mode], results["no view"], strict=True)
            ratios = [r["processed_per_s"] / b["processed_per_s"] for r, b in pairs]
            print(
                f"| {mode} | {statistics.median(processed):,.0f} | {min(processed):,.0f} - {max(processed):,.0f} | "
                f"{(statistics.median(ratios) - 1) * 100:+.1f} % | {cpu:.0f} us | {(cpu / base_cpu - 1) * 100:+.1f} % |"
            )

        if browser is not None:
            loads = page_loads(browser)
            print()
            print(f"Page load in headless Chromium, cold cache, {len(loads)} loads, data flowing at 50 records/s:")
            print()
            print("| measure | median | max |")
            print("|---|---:|---:|")
            for key, label in (
                ("load_ms", "navigation to load event"),
                ("chart_ms", "to first throughput sample on the chart"),
                ("panels_ms", "to every panel filled"),
            ):
                values = [r[key] for r in loads]
                print(f"| {label} | {statistics.median(values):,.0f} ms | {max(values):,.0f} ms |")
            print(
                f"| bytes transferred (page, script, chart library, first panel answers) | "
                f"{statistics.median(r['bytes'] for r in loads) / 1024:,.0f} KiB | |"
            )
        print()
        print(json.dumps({m: results[m] for m in modes}))


if __name__ == "__main__":
    main()
