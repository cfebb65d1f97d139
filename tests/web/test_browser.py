"""The live view in a real browser: headless Debian Chromium driven by Playwright, against a running local stack
with a producer sending while the page is open.

Chromium is not on a fresh machine: `make test` installs it (`make browser`). In CI (CI=true) a missing browser
fails this test; elsewhere it is skipped with the command to install it.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from producers.test_producer import produce
from tests.web.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.web.conftest import live_stack, wait_for

QUERY = "lab_avg_temperature_by_sensor"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _require_browser() -> None:
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (install it with `make browser`, or apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -r requirements-dev.txt)")
    if problems:
        message = "browser test cannot run: " + "; ".join(problems)
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    _require_browser()
    run_dir = tmp_path_factory.mktemp("web-browser")
    with live_stack(run_dir) as live:
        stop = threading.Event()
        producer = threading.Thread(
            target=produce,
            args=(live.stack.resources.stream_name,),
            kwargs={
                "family": "mixed",
                "rate": 40.0,
                "continuous": True,
                "bad_ratio": 0.05,
                "seed": 3,
                "spikes": 3,
                "endpoint_url": live.stack.endpoint.url,
                "failure_path": run_dir / "failures.jsonl",
                "stop": stop,
            },
            daemon=True,
        )
        producer.start()
        try:
            yield live
        finally:
            stop.set()
            producer.join(timeout=30)


@pytest.fixture
def page(live, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(live.url)
            yield page
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            context.close()
            shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_page_shows_live_throughput_and_runs_a_saved_query(live, page, tmp_path):
    from athena_queries.runner import run_local

    # THEN the throughput chart fills from the server-sent events and keeps updating, with records coming in
    page.wait_for_selector("#connection.on", timeout=10_000)
    page.wait_for_function(
        "() => { const c = document.getElementById('throughput-chart');"
        " return Number(c.dataset.samples) >= 3 && Number(c.dataset.lastIn) > 0; }",
        timeout=15_000,
    )
    before = int(page.get_attribute("#throughput-chart", "data-samples"))
    page.wait_for_function(
        f"() => Number(document.getElementById('throughput-chart').dataset.samples) > {before}", timeout=5_000
    )
    points = page.evaluate("() => Chart.getChart('throughput-chart').data.labels.length")
    assert points > before >= 3
    assert page.locator("#totals tbody tr").count() == 5  # sensor, student, log, unknown, all
    page.wait_for_selector("#sensors tbody tr", timeout=5_000)

    # WHEN a saved query is picked and run, once Firehose has landed sensor readings in the lake
    wait_for(lambda: live.get("/api/lake")["families"]["sensor"]["objects"] > 0, 15, "sensor data in the lake")
    page.select_option("#query-select", QUERY)
    page.click("#query-run")
    page.wait_for_selector("#query-result tbody tr", timeout=20_000)

    # THEN its result table and bytes scanned are shown, the same as running the query directly
    headers = page.locator("#query-result thead th").all_inner_texts()
    rows = [row.locator("td").all_inner_texts() for row in page.locator("#query-result tbody tr").all()]
    expected = run_local(QUERY, {}, live.stack.lake_dir)
    assert headers == expected.columns
    sensor_column = headers.index("sensor_id")
    assert {row[sensor_column] for row in rows} <= {str(row[sensor_column]) for row in expected.rows}
    assert len(rows) >= 1
    status = page.inner_text("#query-status")
    assert f"{QUERY}: {len(rows)} rows" in status and "scanned" in status
    assert int(page.get_attribute("#query-status", "data-bytes-scanned")) > 0

    # AND an alert e-mail opens when clicked
    page.wait_for_selector("#mail tbody tr", timeout=15_000)
    page.locator("#mail tbody tr").first.click()
    page.wait_for_selector("#mail-dialog[open]", timeout=5_000)
    assert page.inner_text("#mail-body").strip()
    page.keyboard.press("Escape")

    screenshot = tmp_path / "live-view.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
