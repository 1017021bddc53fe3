"""Render the run report's numbers as one self-contained HTML page: plotly.js inlined once, no remote resource."""

from __future__ import annotations

import html
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
LAG_LABELS = {
    "event_to_bronze": "event time → bronze ingest",
    "bronze_to_silver": "bronze ingest → silver commit",
    "event_to_silver": "event time → silver commit",
    "silver_to_postgres": "silver commit → PostgreSQL publish",
    "event_to_postgres": "event time → PostgreSQL publish",
}
UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .na { color: #a33; font-style: italic; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } .ok { color: #187a2f; } .bad { color: #b00; }
.pass { color: #187a2f; font-weight: 600; } .fail { color: #b00; font-weight: 600; }
"""


def count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def money(value: str | Decimal) -> str:
    return f"£{Decimal(value):,.2f}"


def duration(seconds: float | None) -> str:
    """Seconds to the millisecond below a minute, then min/s, h/min, d/h: how a person reads a wait."""
    if seconds is None:
        return "–"
    if abs(seconds) < 60:
        return f"{seconds:.3f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def _unit(seconds: float) -> tuple[str, int]:
    """The unit a chart's axis reads best in, for values up to `seconds`."""
    return next(((name, size) for name, size in UNITS if seconds >= 2 * size), UNITS[-1])


def _table(header: list[str], rows: list[list[Any]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        css = ' class="n"' if i in numeric else ""
        return f"<{tag}{css}>{value}</{tag}>"

    head = "".join(cell("th", i, html.escape(h)) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ok(ok: bool | None) -> str:
    if ok is None:
        return ""
    return '<span class="ok">ok</span>' if ok else '<span class="bad">MISMATCH</span>'


class _Figures:
    """Turns figures into divs, with plotly.js inlined in the first one only."""

    def __init__(self) -> None:
        self.first = True

    def div(self, figure: go.Figure, height: int = 380) -> str:
        figure.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}, template="plotly_white")
        out = figure.to_html(full_html=False, include_plotlyjs=self.first, config=PLOTLY_CONFIG)
        self.first = False
        return out


def _unavailable(section: dict[str, Any]) -> str | None:
    if section.get("available"):
        return None
    return f'<p class="na">not available: {html.escape(section["why"])}</p>'


def _ledger(section: dict[str, Any], figures: _Figures) -> str:
    if (missing := _unavailable(section)) is not None:
        return missing
    nodes, sources, targets, values = [], [], [], []

    def node(label: str, value: int) -> int:
        nodes.append(f"{label} {value:,}")
        return len(nodes) - 1

    bronze = node("bronze", section["bronze"])
    if section["produced"] is not None:
        sources.append(node("produced", section["produced"]))
        targets.append(bronze)
        values.append(section["produced"])
    for label, value in [("silver", section["silver"]), ("duplicates", section["duplicates"])] + [
        (f"quarantine: {code}", n) for code, n in section["quarantine"].items()
    ]:
        sources.append(bronze)
        targets.append(node(label, value))
        values.append(value)
    sankey = go.Figure(
        go.Sankey(
            node={"label": nodes, "pad": 14},
            link={"source": sources, "target": targets, "value": values},
            valueformat=",d",
        )
    )
    sankey.update_layout(title="where every bronze row went", font_size=13)
    rows = [[html.escape(t["term"]), count(t["expected"]), count(t["found"]), _ok(t["ok"])] for t in section["terms"]]
    m = section["metrics"]
    balance = (
        f"<p>metrics ledger (silver stream): in {count(m['rows_in'])} = inserted {count(m['inserted'])} + "
        f"quarantined {count(m['quarantined'])} + duplicates {count(m['duplicates'])}: "
        f"{_ok(section['balanced'])}</p>"
    )
    no_manifest = (
        f'<p class="na">no producer manifest to compare with: {html.escape(section["manifest_why"])}</p>'
        if section["produced"] is None and section.get("manifest_why")
        else ""
    )
    table = _table(["term", "manifest expects", "lake holds", ""], rows, {1, 2})
    return figures.div(sankey, 420) + table + no_manifest + balance


def _quarantine(section: dict[str, Any], figures: _Figures) -> str:
    if (missing := _unavailable(section)) is not None:
        return missing
    window = _window_note(section, "rows ingested")
    note = f'<p class="na">{html.escape(window)}</p>' if window else ""
    if not section["buckets"]:
        return "<p>no quarantined rows</p>" + note
    figure = go.Figure(
        [go.Bar(name=reason, x=section["buckets"], y=counts) for reason, counts in section["series"].items()]
    )
    figure.update_layout(barmode="stack", title=f"quarantined rows per {section['bucket_s']} s of ingest time")
    rows = [
        [html.escape(bucket)] + [count(section["series"][r][i]) for r in section["series"]]
        for i, bucket in enumerate(section["buckets"])
        if any(section["series"][r][i] for r in section["series"])
    ]
    header = ["ingest bucket (UTC)", *section["series"]]
    return figures.div(figure) + _table(header, rows, set(range(1, len(header)))) + note


def _serving(section: dict[str, Any], figures: _Figures) -> str:
    if (missing := _unavailable(section)) is not None:
        return missing
    revenue, funnel = section["revenue"], section["funnel"]
    days = revenue["days"]
    bars = go.Figure(go.Bar(x=[d["event_date"] for d in days], y=[float(d["revenue_gbp"]) for d in days]))
    bars.update_layout(title="daily revenue (serving.fct_purchases_daily)", yaxis_tickprefix="£", xaxis_type="category")
    revenue_rows = [
        [
            d["event_date"],
            count(d["purchases"]),
            count(d["units"]),
            money(d["revenue_gbp"]),
            count(d["purchasing_users"]),
        ]
        for d in days
    ]
    revenue_rows.append(
        ["<b>total</b>", count(revenue["purchases"]), "", f"<b>{money(revenue['revenue_gbp'])}</b>", ""]
    )
    steps = list(funnel["labels"])
    funnel_figure = go.Figure(
        go.Funnel(
            y=[funnel["labels"][s] for s in steps],
            x=[funnel["totals"][s] for s in steps],
            textinfo="value+percent initial",
        )
    )
    funnel_figure.update_layout(title="sessions: view → cart → purchase (serving.fct_funnel_daily, all days)")
    funnel_rows = [[d["event_date"], *(count(d[s]) for s in steps)] for d in funnel["days"]]
    funnel_rows.append(["<b>total</b>", *(f"<b>{count(funnel['totals'][s])}</b>" for s in steps)])
    other = [f"serving.{table}" for table, ours in section["from_this_lake"].items() if not ours]
    warning = (
        f'<p class="na">{", ".join(other)}: last published from another lake\'s gold tables, not this one</p>'
        if other
        else ""
    )
    verdict = section.get("revenue_verdict")
    agreement = (
        f"<p>demo check, revenue silver = gold = PostgreSQL: <b>{html.escape(verdict)}</b></p>" if verdict else ""
    )
    return (
        warning
        + figures.div(bars)
        + _table(["day", "purchases", "units", "revenue", "purchasing users"], revenue_rows, {1, 2, 3, 4})
        + agreement
        + figures.div(funnel_figure, 320)
        + _table(["session day", *(funnel["labels"][s] for s in steps)], funnel_rows, {1, 2, 3, 4})
    )


def _stages(section: dict[str, Any], figures: _Figures) -> str:
    if (missing := _unavailable(section)) is not None:
        return missing
    tasks = [t for t in section["tasks"] if t["duration_s"] is not None]
    origin = datetime.fromisoformat(section["start"]) if section["start"] else None
    offsets = [(datetime.fromisoformat(t["start"]) - origin).total_seconds() for t in tasks]
    colours = ["#2a9d5c" if t["state"] == "success" else "#c0392b" for t in tasks]
    gantt = go.Figure(
        go.Bar(
            y=[t["task_id"] for t in tasks],
            x=[t["duration_s"] for t in tasks],
            base=offsets,
            orientation="h",
            marker_color=colours,
            hovertemplate="%{y}: %{x:.1f} s<extra></extra>",
        )
    )
    gantt.update_layout(title="task timeline (seconds from the first task's start)", yaxis_autorange="reversed")
    rows = [
        [
            html.escape(t["task_id"]),
            html.escape(t["state"] or "–"),
            count(t["try_number"]),
            duration(t["duration_s"]),
            count(t["rows"]),
            html.escape(t["rows_meaning"] or ""),
            count(t["rows_per_s"]),
        ]
        for t in section["tasks"]
    ]
    head = (
        f"<p>{html.escape(section['dag_id'])} run {html.escape(section['run_id'])}: "
        f"<b>{html.escape(section['state'] or '–')}</b>, {duration(section['wall_s'])} from the first task's start "
        "to the last task's end</p>"
    )
    header = ["task", "state", "try", "duration", "rows", "rows are", "rows/s"]
    return head + figures.div(gantt, 120 + 28 * len(tasks)) + _table(header, rows, {2, 3, 4, 6})


def _freshness(section: dict[str, Any], figures: _Figures) -> str:
    if (missing := _unavailable(section)) is not None:
        return missing
    rows = [
        [LAG_LABELS[name], duration(p["p50_s"]), duration(p["p95_s"]), duration(p["max_s"]), count(p["count"])]
        for name, p in ((n, section["lags"][n]) for n in LAG_LABELS if n in section["lags"])
    ]
    names = [name for name in LAG_LABELS if name in section["histograms"]]
    figure = make_subplots(rows=1, cols=len(names), subplot_titles=[f"silver rows by {LAG_LABELS[n]}" for n in names])
    for column, name in enumerate(names, start=1):
        edges = section["histograms"][name]["edges_s"]
        unit, per = _unit(edges[-1] if edges else 0)
        centres = [(a + b) / 2 / per for a, b in zip(edges, edges[1:], strict=False)]
        figure.add_bar(x=centres, y=section["histograms"][name]["counts"], showlegend=False, row=1, col=column)
        figure.update_xaxes(title_text=unit, row=1, col=column)
    notes = []
    if section["unmatched_rows"]:
        notes.append(
            f"{count(section['unmatched_rows'])} silver rows have no commit of their batch in silver's Delta log "
            "(its log entries were cleaned up), so no freshness"
        )
    if section.get("publish_why"):
        notes.append("no PostgreSQL publish times: the serving database could not be read (see Served marts)")
    if window := _window_note(section, "silver's batches committed"):
        notes.append(window)
    note = "".join(f'<p class="na">{html.escape(n)}</p>' for n in notes)
    explain = (
        "<p>Silver commit = the Delta commit of the batch's silver append (its rows visible); PostgreSQL publish = the "
        "first successful load of this lake's gold tables that started at or after it "
        "(<code>pipeline.load_audit</code>).</p>"
    )
    header = ["lag", "p50", "p95", "max", "silver rows"]
    return explain + _table(header, rows, {1, 2, 3, 4}) + note + figures.div(figure)


def _window_note(section: dict[str, Any], what: str) -> str | None:
    """Says which part of the lake a windowed section covers (sources.Window), when it is not the whole table."""
    window = section.get("window") or {}
    if not window.get("since"):
        return None
    return (
        f"{what} since {window['since']} (the {window['hours']:g} h before silver's newest commit): "
        "make report ARGS=--window-hours=N sets the window, 0 reads the whole table"
    )


SECTIONS = (
    ("ledger", "Conservation ledger", _ledger),
    ("quarantine_timeline", "Quarantine reasons over ingest time", _quarantine),
    ("serving", "Served marts: daily revenue and funnel", _serving),
    ("stages", "Stages: duration and throughput", _stages),
    ("freshness", "Freshness", _freshness),
)


def render(data: dict[str, Any]) -> str:
    """The whole page; `data` is also embedded as JSON (id report-data) so tests and tools read the same numbers."""
    figures = _Figures()
    body = "".join(f"<h2>{title}</h2>{draw(data[key], figures)}" for key, title, draw in SECTIONS)
    verdict = data.get("verdict")
    verdict_html = (
        f' · demo verdict <span class="{"pass" if verdict == "pass" else "fail"}">{html.escape(verdict)}</span>'
        if verdict
        else ""
    )
    embedded = json.dumps(data, indent=1, sort_keys=True).replace("</", "<\\/")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>lakehouse run report {html.escape(data['run'])}</title><style>{STYLE}</style></head><body>"
        f'<h1>lakehouse run report</h1><p class="meta">run {html.escape(data["run"])} · lake '
        f"<code>{html.escape(data['lake'])}</code> · generated {html.escape(data['generated_at'])}{verdict_html}</p>"
        f"{body}"
        f'<script type="application/json" id="report-data">{embedded}</script></body></html>\n'
    )
