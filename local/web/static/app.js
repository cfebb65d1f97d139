// streamlake live view. Throughput and lag arrive as server-sent events (/api/stream, one sample a second); the
// other panels poll their JSON endpoint every PANEL_REFRESH_MS while the page is visible. Text from the pipeline is
// always inserted with textContent, never as HTML.
"use strict";

const PANEL_REFRESH_MS = 2000;
const WINDOW_POINTS = 120;
const FAMILIES = ["sensor", "student", "log", "unknown"];
const COLORS = { sensor: "#0969da", student: "#8250df", log: "#1a7f37", unknown: "#9a6700", quarantined: "#cf222e" };

const state = { eventFamily: "sensor", queries: [], lastSample: null };
window.streamlake = state; // for people poking at the page (and the browser test)

// -- helpers ---------------------------------------------------------------------------------------------------

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.appendChild(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function badge(text, cls) {
  const td = el("td");
  td.appendChild(el("span", text, { class: "badge " + cls }));
  return td;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function fmt(n, digits) {
  if (n === null || n === undefined) return "–";
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
}

function shortTime(iso) {
  return iso ? iso.replace(/^.*T/, "").replace(/\.\d+/, "").replace("Z", "") : "";
}

async function getJSON(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- throughput and lag (server-sent events) -------------------------------------------------------------------

let throughputChart = null;
let lagChart = null;

function makeCharts() {
  const common = {
    animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
    plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } } },
    elements: { point: { radius: 0 } },
  };
  const datasets = [];
  for (const family of FAMILIES) {
    datasets.push({ label: family + " in", data: [], borderColor: COLORS[family], borderWidth: 2, tension: 0.2 });
    datasets.push({
      label: family + " processed", data: [], borderColor: COLORS[family], borderDash: [5, 4], borderWidth: 1.5,
      tension: 0.2,
    });
  }
  datasets.push({ label: "quarantined", data: [], borderColor: COLORS.quarantined, borderWidth: 2, tension: 0.2 });
  throughputChart = new Chart(document.getElementById("throughput-chart"), {
    type: "line", data: { labels: [], datasets },
    options: { ...common, scales: { y: { beginAtZero: true, title: { display: true, text: "records/s" } } },
      plugins: { ...common.plugins, title: { display: true, text: "records/s in (solid) and processed (dashed)" } } },
  });
  lagChart = new Chart(document.getElementById("lag-chart"), {
    type: "line",
    data: { labels: [], datasets: [
      { label: "processor p50", data: [], borderColor: "#0969da", borderWidth: 2, spanGaps: true },
      { label: "processor max", data: [], borderColor: "#0969da", borderDash: [4, 4], borderWidth: 1, spanGaps: true },
      { label: "lake p50", data: [], borderColor: "#1a7f37", borderWidth: 2, spanGaps: true },
    ] },
    options: { ...common, scales: { y: { beginAtZero: true, title: { display: true, text: "seconds" } } },
      plugins: { ...common.plugins, title: { display: true, text: "lag: arrival on the stream → finished" } } },
  });
}

function addSamples(samples) {
  if (!samples.length) return;
  for (const sample of samples) {
    const quarantined = FAMILIES.reduce((sum, f) => sum + sample.rates[f].quarantined, 0);
    const values = [];
    for (const family of FAMILIES) values.push(sample.rates[family].in, sample.rates[family].processed);
    values.push(quarantined);
    throughputChart.data.labels.push(sample.time);
    throughputChart.data.datasets.forEach((ds, i) => ds.data.push(values[i]));
    lagChart.data.labels.push(sample.time);
    const lag = [sample.lag.processor.p50_s, sample.lag.processor.max_s, sample.lag.lake.p50_s];
    lagChart.data.datasets.forEach((ds, i) => ds.data.push(lag[i]));
  }
  for (const chart of [throughputChart, lagChart]) {
    const extra = chart.data.labels.length - WINDOW_POINTS;
    if (extra > 0) {
      chart.data.labels.splice(0, extra);
      chart.data.datasets.forEach((ds) => ds.data.splice(0, extra));
    }
    chart.update("none");
  }
  const canvas = document.getElementById("throughput-chart");
  canvas.dataset.samples = String(Number(canvas.dataset.samples) + samples.length);
  const last = samples[samples.length - 1];
  canvas.dataset.lastIn = String(FAMILIES.reduce((sum, f) => sum + last.rates[f].in, 0));
  state.lastSample = last;
  showTotals(last);
}

function showTotals(sample) {
  const t = sample.totals;
  const rows = [];
  const sums = { in: 0, processed: 0, lake: 0, quarantined: 0, rin: 0, rproc: 0, rquar: 0 };
  for (const f of FAMILIES) {
    const r = sample.rates[f];
    rows.push(row([f, fmt(t.in[f], 0), fmt(t.processed[f], 0), fmt(t.lake[f], 0), fmt(t.quarantined[f], 0),
      fmt(r.in, 1), fmt(r.processed, 1), fmt(r.quarantined, 1)]));
    for (const k of ["in", "processed", "lake", "quarantined"]) sums[k] += t[k][f];
    sums.rin += r.in;
    sums.rproc += r.processed;
    sums.rquar += r.quarantined;
  }
  rows.push(row(["all", fmt(sums.in, 0), fmt(sums.processed, 0), fmt(sums.lake, 0), fmt(sums.quarantined, 0),
    fmt(sums.rin, 1), fmt(sums.rproc, 1), fmt(sums.rquar, 1)]));
  fill(document.querySelector("#totals tbody"), rows);
  const p = sample.lag.processor, l = sample.lag.lake;
  document.getElementById("lag-text").textContent =
    `processor: p50 ${fmt(p.p50_s)} s, max ${fmt(p.max_s)} s, ${fmt(p.backlog, 0)} waiting` +
    (p.oldest_waiting_s !== null ? ` (oldest ${fmt(p.oldest_waiting_s, 1)} s)` : "") +
    ` · lake: p50 ${fmt(l.p50_s)} s, ${fmt(l.backlog, 0)} buffered or waiting` +
    (l.oldest_waiting_s !== null ? ` (oldest ${fmt(l.oldest_waiting_s, 1)} s)` : "");
  document.getElementById("clock").textContent = "sample " + sample.time + " UTC";
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource("/api/stream");
  source.addEventListener("history", (e) => addSamples(JSON.parse(e.data)));
  source.onmessage = (e) => addSamples([JSON.parse(e.data)]);
  source.onopen = () => { status.textContent = "live"; status.className = "badge on"; };
  source.onerror = () => { status.textContent = "reconnecting"; status.className = "badge off"; };
}

// -- panels (polled) -------------------------------------------------------------------------------------------

function describeEvent(e) {
  const skip = new Set(["event_id", "family", "timestamp", "source"]);
  return Object.entries(e).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}=${v}`).join("  ");
}

async function refreshEvents() {
  const family = state.eventFamily;
  const data = await getJSON("/api/events");
  const items = data[family] || [];
  const rows = items.map((item) => family === "invalid"
    ? row([shortTime(item.quarantined_at), item.family, el("td", item.reason, { class: "wrap" }),
      el("td", item.preview, { class: "json" })])
    : row([shortTime(item.event.timestamp), el("td", describeEvent(item.event), { class: "json" })]));
  fill(document.querySelector("#events tbody"), rows);
}

async function refreshSensors() {
  const data = await getJSON("/api/sensors");
  fill(document.querySelector("#sensors tbody"), data.sensors.map((s) => {
    const temperature = el("td", fmt(s.temperature), s.above_threshold ? { class: "hot" } : {});
    return row([s.sensor_id, s.location, temperature, fmt(s.humidity, 1), shortTime(s.timestamp)]);
  }));
}

async function refreshStudents() {
  const data = await getJSON("/api/students");
  fill(document.querySelector("#students tbody"), data.students.map((s) => {
    const a = s.last_activity, g = s.last_grade;
    const activity = el("td", a ? a.event_type + (a.course_id ? " " + a.course_id : "") : "");
    if (a) activity.appendChild(el("span", shortTime(a.timestamp), { class: "sub" }));
    const grade = el("td", g ? `${fmt(g.grade, 1)} in ${g.course_id}` : "–");
    if (g) grade.appendChild(el("span", shortTime(g.timestamp), { class: "sub" }));
    return row([s.student_id, activity, grade]);
  }));
}

async function refreshAlarms() {
  const data = await getJSON("/api/alarms");
  fill(document.querySelector("#alarms tbody"), data.alarms.map((a) => {
    const tr = row([badge(a.state, a.state), a.key, el("td", a.metric, { class: "wrap" })]);
    tr.title = a.description + (a.reason ? "\n\n" + a.reason : "");
    return tr;
  }));
  fill(document.querySelector("#alarm-history tbody"), data.history.map((h) =>
    row([shortTime(h.seen_at), el("td", h.alarm, { class: "wrap" }), `${h.from} → ${h.to}`])));
}

async function refreshMail() {
  const data = await getJSON("/api/mail");
  document.getElementById("mailbox-path").textContent = data.mailbox;
  fill(document.querySelector("#mail tbody"), data.messages.map((m) => {
    const tr = row([shortTime(m.seen_at), badge(m.kind, m.kind), el("td", m.subject, { class: "wrap" }), m.recipient]);
    tr.dataset.id = m.id;
    tr.addEventListener("click", () => openMail(m.id));
    return tr;
  }));
}

async function openMail(id) {
  const m = await getJSON("/api/mail/" + id);
  const headers = document.getElementById("mail-headers");
  headers.replaceChildren(el("div", "To: " + m.recipient), el("div", "Subject: " + m.subject),
    el("div", "Topic: " + m.topic_arn, { class: "muted" }));
  document.getElementById("mail-body").textContent = m.body;
  document.getElementById("mail-dialog").showModal();
}

async function refreshLake() {
  const data = await getJSON("/api/lake");
  document.getElementById("lake-scanned").textContent =
    data.scanned_at ? `listed ${shortTime(data.scanned_at)} UTC · ${data.partition_count} partitions · ${data.lake_dir}` : "";
  const areas = Object.entries(data.areas || {}).map(([name, a]) => row([name + "/", fmt(a.objects, 0), bytes(a.bytes)]));
  for (const [family, a] of Object.entries(data.families || {})) {
    areas.push(row(["  processed/family=" + family, fmt(a.objects, 0), bytes(a.bytes)]));
  }
  fill(document.querySelector("#lake-areas tbody"), areas);
  fill(document.querySelector("#quarantine-reasons tbody"),
    data.quarantine.reasons.map((r) => row([el("td", r.reason, { class: "wrap" }), fmt(r.count, 0)])));
  fill(document.querySelector("#lake-partitions tbody"), (data.partitions || []).map((p) =>
    row([el("td", p.partition, { class: "json" }), fmt(p.objects, 0), bytes(p.bytes), shortTime(p.last_modified)])));
}

// -- event-time windows (/api/windows) -------------------------------------------------------------------------

const WINDOW_CHART_WINDOWS = 20;
let windowTemperatureChart = null;
let windowErrorsChart = null;

function makeWindowCharts() {
  const options = (title, unit) => ({
    animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } }, title: { display: true, text: title } },
    scales: { y: { title: { display: true, text: unit } } },
  });
  windowTemperatureChart = new Chart(document.getElementById("window-temperature-chart"), {
    type: "line", data: { labels: [], datasets: [] },
    options: options("average temperature per location, per window", "°C"),
  });
  windowErrorsChart = new Chart(document.getElementById("window-errors-chart"), {
    type: "bar", data: { labels: [], datasets: [] },
    options: options("error rate per service, per window", "% ERROR/CRITICAL"),
  });
}

// One dataset per entity, one point per window (oldest first); a window without the entity is a gap.
function seriesByEntity(windows, dimension, value) {
  const labels = windows.map((w) => shortTime(new Date(w.start_ms).toISOString()) + (w.closed ? "" : " (open)"));
  const entities = [...new Set(windows.flatMap((w) => w.rows.filter((r) => r.dimension === dimension)
    .map((r) => r.entity)))].sort();
  const palette = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#9a6700", "#bf3989", "#0550ae", "#116329"];
  const datasets = entities.slice(0, palette.length).map((entity, i) => ({
    label: entity, borderColor: palette[i], backgroundColor: palette[i], borderWidth: 2, spanGaps: false,
    data: windows.map((w) => {
      const found = w.rows.find((r) => r.dimension === dimension && r.entity === entity);
      return found ? value(found) : null;
    }),
  }));
  return { labels, datasets };
}

function kpi(label, value) {
  const box = el("div", null, { class: "kpi" });
  box.appendChild(el("span", value, { class: "value" }));
  box.appendChild(el("span", label, { class: "label" }));
  return box;
}

async function refreshWindows() {
  const data = await getJSON("/api/windows?limit=" + WINDOW_CHART_WINDOWS);
  const windows = data.windows.slice().reverse();
  const closed = data.windows.find((w) => w.closed);
  document.getElementById("windows-caption").textContent =
    `${data.window_seconds} s tumbling windows over event time, watermark = newest event - ` +
    `${data.allowed_lateness_seconds} s` + (closed ? ` · latest closed: ${shortTime(new Date(closed.start_ms)
      .toISOString())}` : " · no window closed yet");
  const kpis = [];
  if (closed) {
    const rows = closed.rows;
    const sensors = rows.filter((r) => r.dimension === "sensor");
    const readings = sensors.reduce((sum, r) => sum + r.count, 0);
    const maxTemp = sensors.length ? Math.max(...sensors.map((r) => r.max_temperature)) : null;
    const avgTemp = readings ? sensors.reduce((sum, r) => sum + r.avg_temperature * r.count, 0) / readings : null;
    const above = sensors.reduce((sum, r) => sum + r.above_threshold, 0);
    const logs = rows.filter((r) => r.dimension === "service");
    const logCount = logs.reduce((sum, r) => sum + r.count, 0);
    const errors = logs.reduce((sum, r) => sum + r.count_error + r.count_critical, 0);
    const students = rows.filter((r) => r.dimension === "course_event");
    const logins = students.filter((r) => r.event_type === "login").reduce((sum, r) => sum + r.count, 0);
    const grades = students.filter((r) => r.grades);
    const graded = grades.reduce((sum, r) => sum + r.grades, 0);
    const avgGrade = graded ? grades.reduce((sum, r) => sum + r.avg_grade * r.grades, 0) / graded : null;
    kpis.push(kpi("readings", fmt(readings, 0)), kpi("avg °C", fmt(avgTemp, 1)), kpi("max °C", fmt(maxTemp, 1)),
      kpi("readings above threshold", fmt(above, 0)),
      kpi("error rate", logCount ? fmt(100 * errors / logCount, 1) + " %" : "–"),
      kpi("logins", fmt(logins, 0)), kpi("avg grade", fmt(avgGrade, 1)));
  }
  document.getElementById("kpis").replaceChildren(...kpis);
  const temps = seriesByEntity(windows, "location", (r) => r.avg_temperature);
  windowTemperatureChart.data = temps;
  windowTemperatureChart.update("none");
  windowErrorsChart.data = seriesByEntity(windows, "service", (r) => 100 * r.error_rate);
  windowErrorsChart.update("none");
  document.getElementById("window-temperature-chart").dataset.windows = String(windows.length);
}

const PANELS = [refreshEvents, refreshSensors, refreshStudents, refreshAlarms, refreshMail, refreshLake, refreshWindows];

async function refreshPanels() {
  if (document.visibilityState === "hidden") return;
  await Promise.all(PANELS.map((panel) => panel().catch((error) => console.warn(panel.name, error))));
}

// -- saved queries ---------------------------------------------------------------------------------------------

async function loadQueries() {
  const data = await getJSON("/api/queries");
  state.queries = data.queries;
  const select = document.getElementById("query-select");
  select.replaceChildren(...data.queries.map((q) => el("option", q.name, { value: q.name })));
  select.addEventListener("change", showParams);
  showParams();
}

function showParams() {
  const query = state.queries.find((q) => q.name === document.getElementById("query-select").value);
  const params = document.getElementById("query-params");
  params.replaceChildren();
  document.getElementById("query-description").textContent = query ? query.description : "";
  if (!query) return;
  for (const p of query.params) {
    const label = el("label", p.name + " ", { title: `${p.type}: ${p.doc}` });
    label.appendChild(el("input", null, { name: p.name, value: p.default, "data-param": p.name }));
    params.appendChild(label);
  }
}

// A result cell as the CLI prints it: NULL, integers as they are, other numbers to 6 significant digits.
function cell(value) {
  if (value === null) return "NULL";
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(6)));
  return value;
}

async function runQuery(event) {
  event.preventDefault();
  const name = document.getElementById("query-select").value;
  const params = {};
  for (const input of document.querySelectorAll("#query-params input")) params[input.dataset.param] = input.value;
  const status = document.getElementById("query-status");
  const table = document.getElementById("query-result");
  status.className = "";
  status.textContent = "running " + name + " …";
  document.getElementById("query-run").disabled = true;
  try {
    const result = await getJSON("/api/queries/" + encodeURIComponent(name), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ params }),
    });
    table.tHead.replaceChildren(row(result.columns.map((c) => el("th", c))));
    fill(table.tBodies[0], result.rows.map((r) => row(r.map(cell))));
    status.textContent = `${result.name}: ${fmt(result.row_count, 0)} rows` +
      (result.truncated ? ` (first ${result.rows.length} shown)` : "") +
      ` · ${result.bytes_scanned_human} scanned (${fmt(result.bytes_scanned, 0)} bytes)` +
      ` · ${fmt(result.elapsed_seconds, 2)} s`;
    status.dataset.bytesScanned = result.bytes_scanned;
  } catch (error) {
    status.className = "error";
    status.textContent = name + ": " + error.message;
    table.tHead.replaceChildren();
    table.tBodies[0].replaceChildren();
  } finally {
    document.getElementById("query-run").disabled = false;
  }
}

// -- start -----------------------------------------------------------------------------------------------------

function start() {
  makeCharts();
  makeWindowCharts();
  connect();
  for (const button of document.querySelectorAll("#event-tabs button")) {
    button.addEventListener("click", () => {
      document.querySelectorAll("#event-tabs button").forEach((b) => b.classList.toggle("active", b === button));
      state.eventFamily = button.dataset.family;
      refreshEvents();
    });
  }
  document.getElementById("query-form").addEventListener("submit", runQuery);
  loadQueries().catch((error) => { document.getElementById("query-status").textContent = error.message; });
  refreshPanels();
  setInterval(refreshPanels, PANEL_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
