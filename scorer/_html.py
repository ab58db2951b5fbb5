"""`vcc report`: one self-contained HTML file for a score (and, optionally, its run).

Everything is inside the file: PNGs as base64 data URIs, the per-pair table as an embedded CSV
download, the styles inline; no network, no script but a few lines that mark, once the page
has loaded, how many images decoded (a test reads that from the browser's DOM). Sections: the
summary, the terms with their shares and marginal costs, the targets, the worst pairs, the
plots, the numerics, versions and asset hashes, the raws, warnings, the run's phases and clock.
Torch-free.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Iterable
from typing import Any

from ._breakdown import TERM_NAMES, target_decomposition
from ._pairs import pair_rows

__all__ = ["SECTION_IDS", "render_html", "vcc_version"]

# Every section a score report has (the run section only with a run report).
SECTION_IDS = ("summary", "terms", "targets", "worst-pairs", "plots", "numerics", "versions", "assets", "raws",
               "warnings", "pairs")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;
padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.num{font-family:ui-monospace,Menlo,Consolas,monospace;text-align:right}
.big{font-size:2em;font-weight:bold}.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em .8em;
margin:.3em 0}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555}
.scroll{overflow-x:auto;max-width:100%}code{font-family:ui-monospace,Menlo,Consolas,monospace}details{margin:.5em 0}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-total', imgs.length);
  document.body.setAttribute('data-images-loaded', ok);
  document.body.setAttribute('data-rendered', 'yes');
});
"""


def vcc_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vcc")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any) -> str:
    """Floats at full precision (shortest round-trip repr), ints with separators."""
    if isinstance(x, bool) or x is None:
        return _e(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return repr(x)
    return _e(x)


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    out = ["<div class=scroll><table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = [f"<td class=num>{_num(c)}</td>" if i in numeric and isinstance(c, int | float) else
                 f"<td>{_e(c)}</td>" for i, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table></div>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    others = [t for name, t in (report.get("targets") or {}).items() if name != report["decode"]]
    return [report, *others]


def _summary(report: dict[str, Any]) -> str:
    body = (f"<p class=big>score {_num(report['score'])}</p>"
            f"<p>official report shows <b>{report['score']:.2f}</b>; {report['decode']} ground truth on "
            f"{_e(report.get('device'))}, {report['samples']} samples, archive {report['archive_bytes']:,} bytes of "
            f"{report['original_bytes']:,} original bytes</p>")
    paths = report.get("paths") or {}
    if paths:
        body += _table(("input", "path"), sorted(paths.items()))
    if report.get("truncated"):
        body += "<p class=warn>scored like the official zip() loop over a short raw: the submission is invalid</p>"
    return _section("summary", "Summary", body)


def _terms(report: dict[str, Any]) -> str:
    d = target_decomposition(report, report)
    rows = [(n, d["terms"][n]["formula"], d["terms"][n]["value"], d["terms"][n]["contribution"],
             None if d["terms"][n]["share"] is None else f"{100 * d['terms'][n]['share']:.3f} %") for n in TERM_NAMES]
    rows.append(("score", "sum of the three", "", report["score"], "100 %"))
    m = d["marginal"]
    marginal = _table(("what changes", "score change"), [
        ("one more archive byte (25 / original bytes)", m["score_per_byte"]),
        ("one SegNet pixel flipped in one pair (100 / (pairs * 384 * 512))", m["score_per_segnet_pixel"]),
        ("PoseNet distortion, per unit (sqrt(10) / (2 sqrt(posenet)) here)", m["score_per_posenet"]),
        ("one pair's PoseNet distortion, per unit (the above / pairs)", m["score_per_pair_posenet"]),
    ], numeric={1})
    return _section("terms", "Terms, shares and marginal costs",
                    _table(("term", "formula", "value", "contribution", "share"), rows, numeric={2, 3})
                    + "<h3>Marginal costs</h3>" + marginal)


def _targets_section(report: dict[str, Any]) -> str:
    rows = []
    for t in _targets(report):
        terms = t["terms"]
        rows.append((t["decode"], t["samples"], t["posenet_distortion"], t["segnet_distortion"], terms["segnet"],
                     terms["posenet"], terms["rate"], t["score"], t.get("cache")))
    body = _table(("target", "samples", "posenet", "segnet", "segnet term", "posenet term", "rate term", "score",
                   "cache"), rows, numeric={1, 2, 3, 4, 5, 6, 7})
    comparison = report.get("comparison")
    if comparison:
        d = comparison["deltas"]
        body += (f"<p>{_e(comparison['to'])} minus {_e(comparison['from'])}: score <code>{d['score']:+}</code> "
                 f"(segnet term <code>{d['segnet']:+}</code>, posenet term <code>{d['posenet']:+}</code>, "
                 f"rate term <code>{d['rate']:+}</code>)</p>")
    return _section("targets", "Decode targets", body)


def _worst(report: dict[str, Any], k: int) -> str:
    rows = [r for r in pair_rows(report) if r["decode"] == report["decode"]]
    body = ""
    for key, label in (("segnet", "SegNet"), ("posenet", "PoseNet")):
        worst = sorted(rows, key=lambda r: r[key], reverse=True)[:k]
        table = [(r["video"], r["pair"], f"{r['frame_first']},{r['frame_second']}", r["segnet"], r["posenet"],
                  r[f"{key}_contribution"], r[f"{key}_share"]) for r in worst]
        body += f"<h3>{label}: the {len(worst)} worst pairs</h3>" + _table(
            ("video", "pair", "frames", "segnet", "posenet", f"{key} contribution (score units)",
             f"share of the {key} term"), table, numeric={1, 3, 4, 5, 6})
    return _section("worst-pairs", "Worst pairs", body)


def _plots(plots: list[tuple[str, bytes]]) -> str:
    if not plots:
        return _section("plots", "Plots", "<p>no plots</p>")
    figs = "".join(f'<figure><img alt="{_e(c)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                   f"<figcaption>{_e(c)}</figcaption></figure>" for c, png in plots)
    return _section("plots", "Plots", figs)


def _flat(v: Any) -> Any:
    """A nested value on one line: dicts as k=v, lists comma-separated."""
    if isinstance(v, dict):
        return ", ".join(f"{a}={_flat(b)}" for a, b in v.items())
    if isinstance(v, list):
        return ", ".join(str(_flat(x)) for x in v)
    return v


def _numerics(report: dict[str, Any]) -> str:
    numerics = report.get("numerics") or {}
    rows = [(k, _flat(v)) for k, v in numerics.items()]
    env = report.get("environment") or {}
    rows += [(f"environment {k}", v) for k, v in env.items()]
    return _section("numerics", "Numerics", _table(("field", "value"), rows))


def _versions(report: dict[str, Any]) -> str:
    rows = [("vcc", vcc_version()), *sorted((report.get("versions") or {}).items())]
    return _section("versions", "Versions", _table(("library", "version"), rows))


def _assets(report: dict[str, Any]) -> str:
    rows = [(k, v.get("bytes"), v.get("sha256"), v.get("official")) for k, v in (report.get("assets") or {}).items()]
    return _section("assets", "Asset hashes", _table(("file", "bytes", "sha256", "official"), rows, numeric={1}))


def _raws(report: dict[str, Any]) -> str:
    rows = [(r.get("name"), r.get("path"), r.get("bytes"), r.get("frames"), r.get("expected_frames"))
            for r in report.get("raws") or []]
    return _section("raws", "Candidate raws", _table(("name", "path", "bytes", "frames", "expected frames"), rows,
                                                     numeric={2, 3, 4}))


def _warnings(report: dict[str, Any]) -> str:
    items = report.get("warnings") or []
    body = "".join(f"<p class=warn>{_e(w)}</p>" for w in items) or "<p>none</p>"
    return _section("warnings", "Warnings", body)


def _run(run: dict[str, Any]) -> str:
    clock = run.get("clock") or {}
    body = (f"<p>verdict <b>{_e(run.get('verdict'))}</b> (exit {run.get('exit_code')}): {_e(run.get('message'))}</p>"
            "<h3>Phases (seconds)</h3>" + _table(("phase", "seconds"), sorted((run.get("phases") or {}).items()),
                                                 numeric={1}))
    headroom = clock.get("headroom_s")
    if headroom is not None:
        body += (f"<p class=big>headroom {headroom:,.0f} s</p><p>of the {clock.get('clock_s', 0):,.0f} s clock "
                 "(setup overhead + unzip + inflate + scoring)</p>")
    body += "<h3>Clock</h3>" + _table(("field", "value"), clock.items(), numeric={1})
    return _section("run", "Run: phases and clock", body)


def _pairs(report: dict[str, Any], pairs_csv: bytes | None) -> str:
    body = ""
    if pairs_csv is not None:
        body += (f'<p><a download="pairs.csv" href="data:text/csv;base64,{base64.b64encode(pairs_csv).decode()}">'
                 "download the per-pair table (CSV, full precision)</a></p>")
    rows = [(i, p["video"], p["pair"], p["segnet"], p["posenet"]) for i, p in enumerate(report["per_pair"])]
    body += ("<details><summary>every pair</summary>"
             + _table(("#", "video", "pair", "segnet", "posenet"), rows, numeric={0, 2, 3, 4}) + "</details>")
    return _section("pairs", "Per-pair table", body)


def render_html(report: dict[str, Any], *, title: str, run: dict[str, Any] | None = None,
                plots: list[tuple[str, bytes]] | None = None, pairs_csv: bytes | None = None, k: int = 10) -> str:
    """The whole page as a string."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [_summary(report), _terms(report), _targets_section(report), _worst(report, k), _plots(plots or []),
             _numerics(report), _versions(report), _assets(report), _raws(report), _warnings(report)]
    if run is not None:
        parts.append(_run(run))
    parts.append(_pairs(report, pairs_csv))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{_e(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>{_e(title)}</h1><p>generated by vcc {_e(vcc_version())} on {now}</p>"
            + "".join(parts) + "</body></html>\n")
