"""The live view's HTTP side: the page, its JSON endpoints and the server-sent events (docs/web.md lists them).

Every endpoint answers from what `LiveView` already holds in memory, except `POST /api/queries/<name>`, which runs a
saved query on DuckDB over the local lake (one at a time).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_from_directory

from lambdas.schemas import FAMILIES
from local.web.live import LiveView

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_QUERY_ROWS = 500
MAX_STREAM_CLIENTS = 16
STREAM_HISTORY_SECONDS = 120
KEEPALIVE_SECONDS = 15.0
ENDPOINTS = {
    "GET /api/summary": "totals per family (in, processed, lake, quarantined) and the runners' own counters",
    "GET /api/throughput?seconds=120": "one-second samples: records/s per family, totals, lag",
    "GET /api/stream": "server-sent events: the same samples as they are taken (about one per second)",
    "GET /api/events?family=sensor&limit=25": "latest events per family (and the latest quarantined records)",
    "GET /api/sensors": "latest state per sensor: temperature, humidity, location, time",
    "GET /api/students": "latest state per student: last activity, last grade",
    "GET /api/alarms": "alarms with current state and history",
    "GET /api/mail?limit=100": "alert e-mails delivered, newest first",
    "GET /api/mail/<id>": "one e-mail, in full",
    "GET /api/windows?family=sensor&limit=10": "newest event-time windows (open and closed) with their KPI rows",
    "GET /api/lake": "the lake: objects and bytes per area, family and partition; quarantine reasons",
    "GET /api/queries": "saved queries with their parameters",
    "POST /api/queries/<name>": 'run a saved query locally; body {"params": {...}}',
}


def json_value(value: Any) -> Any:
    """A query result cell as JSON: timestamps as ISO-8601, decimals as numbers, NaN/Infinity and bytes as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def create_app(view: LiveView) -> Flask:
    """The Flask app serving `view`."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.json.sort_keys = False
    query_lock = threading.Lock()
    clients = {"count": 0}
    clients_lock = threading.Lock()

    @app.get("/")
    def page() -> Response:
        return send_from_directory(STATIC_DIR, "index.html", max_age=0)

    @app.get("/api")
    def index() -> Response:
        return jsonify(ENDPOINTS)

    @app.get("/api/summary")
    def summary() -> Response:
        return jsonify({"families": list(FAMILIES), "totals": view.model.totals(), **view.pipeline_status()})

    @app.get("/api/throughput")
    def throughput() -> Response:
        seconds = request.args.get("seconds", default=120, type=float)
        return jsonify({"samples": view.model.recent_samples(max(1.0, min(seconds, 900.0)))})

    @app.get("/api/stream")
    def stream() -> Response:
        with clients_lock:
            if clients["count"] >= MAX_STREAM_CLIENTS:
                abort(503, description=f"at most {MAX_STREAM_CLIENTS} live connections")
            clients["count"] += 1

        def events():
            try:
                history = view.model.recent_samples(STREAM_HISTORY_SECONDS)
                last = history[-1]["id"] if history else 0
                yield f"retry: 2000\nevent: history\ndata: {json.dumps(history)}\n\n"
                quiet = 0.0
                while not view.stopping.is_set():
                    samples = view.model.samples_after(last, timeout=2.0)
                    if not samples:
                        quiet += 2.0
                        if quiet >= KEEPALIVE_SECONDS:
                            quiet = 0.0
                            yield ": keepalive\n\n"
                        continue
                    quiet = 0.0
                    for sample in samples:
                        yield f"id: {sample['id']}\ndata: {json.dumps(sample)}\n\n"
                    last = samples[-1]["id"]
            finally:
                with clients_lock:
                    clients["count"] -= 1

        return Response(
            events(),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/events")
    def events_endpoint() -> Response:
        family = request.args.get("family") or None
        if family is not None and family not in FAMILIES:
            abort(400, description=f"family must be one of {', '.join(FAMILIES)}")
        limit = max(1, min(request.args.get("limit", default=25, type=int), 25))
        return jsonify(view.model.latest_events(family, limit))

    @app.get("/api/sensors")
    def sensors() -> Response:
        return jsonify({"high_temperature_c": view.model.high_temperature_c, "sensors": view.model.sensor_states()})

    @app.get("/api/students")
    def students() -> Response:
        return jsonify({"students": view.model.student_states()})

    @app.get("/api/alarms")
    def alarms() -> Response:
        return jsonify({"alarms": view.alarms(), "history": list(view.history)})

    @app.get("/api/mail")
    def mail() -> Response:
        limit = max(1, min(request.args.get("limit", default=100, type=int), 500))
        return jsonify({"mailbox": str(view.stack.mailbox_path), "messages": view.mail_list(limit)})

    @app.get("/api/mail/<int:mail_id>")
    def mail_message(mail_id: int) -> Response:
        message = view.mail_message(mail_id)
        if message is None:
            abort(404, description=f"no e-mail {mail_id} (the view keeps the latest ones; the mbox file has all)")
        return jsonify({**message.summary(), "topic_arn": message.topic_arn, "body": message.body})

    @app.get("/api/windows")
    def windows() -> Response:
        family = request.args.get("family") or None
        if family is not None and family not in FAMILIES:
            abort(400, description=f"family must be one of {', '.join(FAMILIES)}")
        limit = max(1, min(request.args.get("limit", default=10, type=int), 120))
        m = view.stack.config.metrics
        return jsonify(
            {
                "window_seconds": m.window_seconds,
                "allowed_lateness_seconds": m.allowed_lateness_seconds,
                "windows": view.stack.recent_windows(family, limit),
            }
        )

    @app.get("/api/lake")
    def lake_endpoint() -> Response:
        return jsonify(
            {"lake_dir": str(view.stack.lake_dir), **view.lake_listing, "quarantine": view.model.quarantine_summary()}
        )

    @app.get("/api/queries")
    def queries() -> Response:
        from athena_queries import saved_queries

        return jsonify(
            {
                "queries": [
                    {
                        "name": q.name,
                        "description": q.description,
                        "params": [
                            {"name": p.name, "type": p.type, "default": p.default, "doc": p.doc} for p in q.params
                        ],
                    }
                    for q in saved_queries()
                ]
            }
        )

    @app.post("/api/queries/<name>")
    def run_query(name: str) -> Response:
        from athena_queries.runner import RunnerError, human_bytes, run_local

        body = request.get_json(silent=True) or {}
        params = body.get("params") or {}
        if not isinstance(params, dict):
            abort(400, description="params must be an object of name -> value")
        # DuckDB shares this process with the pipeline: one query at a time.
        if not query_lock.acquire(blocking=False):
            abort(409, description="another query is running; try again when it has finished")
        try:
            result = run_local(name, {str(k): str(v) for k, v in params.items()}, view.stack.lake_dir)
        except RunnerError as error:
            return jsonify({"name": name, "error": str(error)}), 400
        finally:
            query_lock.release()
        rows = [[json_value(v) for v in row] for row in result.rows[:MAX_QUERY_ROWS]]
        return jsonify(
            {
                "name": result.name,
                "columns": result.columns,
                "rows": rows,
                "row_count": len(result.rows),
                "truncated": len(result.rows) > MAX_QUERY_ROWS,
                "bytes_scanned": result.bytes_scanned,
                "bytes_scanned_human": human_bytes(result.bytes_scanned),
                "cost_usd": result.cost_usd,
                "elapsed_seconds": round(result.elapsed_seconds, 3),
                "sql": result.sql,
            }
        )

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(503)
    def error(error: Any) -> Any:
        return jsonify({"error": error.description}), error.code

    return app
