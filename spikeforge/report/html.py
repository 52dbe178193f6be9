"""Render a :class:`~spikeforge.report.collect.RunData` as one self-contained HTML page.

Self-contained means: CSS inline in ``<style>``, every figure a ``data:image/png;base64``
URI, no script, font, stylesheet or image fetched from anywhere. The page is a dashboard:
headline numbers first, then curves, accuracy per time step, spiking activity, energy,
analyses, and the full config at the end.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .. import records as R
from .collect import RunData, monitor_tables

__all__ = ["render_report"]

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --card:#fff; --accent:#2f6fde;
        --good:#2f9e6b; --warn:#c77b11; --bad:#c2413b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 60px; }
header.top { background: linear-gradient(120deg, #17324d, #2f6fde); color:#fff; }
header.top .inner { max-width:1180px; margin:0 auto; padding: 26px 28px 22px; }
header.top h1 { margin:0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: .2px; }
header.top p { margin: 0; opacity: .85; }
.chips { margin-top: 12px; display:flex; flex-wrap:wrap; gap:8px; }
.chip { background: rgba(255,255,255,.16); border:1px solid rgba(255,255,255,.25); border-radius: 999px;
        padding: 2px 11px; font-size: 13px; }
.chip b { font-weight: 600; }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; opacity:.75;
        margin-top: 10px; word-break: break-all; }
nav { position: sticky; top: 0; z-index: 2; background: rgba(245,247,250,.95); border-bottom: 1px solid var(--line); }
nav .inner { max-width:1180px; margin:0 auto; padding: 8px 28px; display:flex; gap: 18px; flex-wrap: wrap; }
nav a { color: var(--muted); text-decoration: none; font-size: 13.5px; font-weight: 550; }
nav a:hover { color: var(--accent); }
.kpis { display:grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 14px; margin: 4px 0 8px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px; }
.kpi .label { color: var(--muted); font-size: 12.5px; text-transform: uppercase; letter-spacing: .5px; }
.kpi .value { font-size: 27px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.kpi .sub { color: var(--muted); font-size: 12.5px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px 22px 20px;
          margin-top: 22px; }
section h2 { margin: 0 0 4px; font-size: 18px; font-weight: 650; }
section h3 { margin: 18px 0 6px; font-size: 15px; font-weight: 620; }
.lead { color: var(--muted); margin: 0 0 14px; font-size: 13.5px; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display:block; border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.grid2 { display:grid; grid-template-columns: repeat(auto-fit, minmax(430px, 1fr)); gap: 18px; align-items: start; }
.gallery { display:grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 16px; align-items: end; }
.gallery img { max-height: 380px; width: auto; margin: 0 auto; }
.single img { max-width: min(100%, 720px); }
.split { display:grid; grid-template-columns: minmax(340px, 1fr) minmax(380px, 1fr); gap: 22px; align-items: start; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .4px;
     background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f8fafc; }
tr.total td { font-weight: 650; border-top: 2px solid var(--line); }
.scroll { overflow-x: auto; }
.bar { position: relative; height: 8px; background: #edf0f4; border-radius: 4px; min-width: 56px; }
.bar span { position:absolute; left:0; top:0; bottom:0; border-radius: 4px; background: var(--accent); }
.bar.alt span { background: #8fb3f0; }
.pill { display:inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.good { background:#e3f4ec; color: var(--good); } .pill.warn { background:#fdf1de; color: var(--warn); }
.pill.bad { background:#fbe6e5; color: var(--bad); }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 8px 0 0; font-size: 13px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; word-break: break-word; }
pre.yaml { background: #0f1b2a; color: #d7e1ec; padding: 12px 14px; border-radius: 0 0 10px 10px; overflow-x: auto;
           font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 0; flex: 1;
           white-space: pre-wrap; overflow-wrap: anywhere; }
.cfg-grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; }
.cfg { display:flex; flex-direction: column; border-radius: 10px; overflow: hidden; }
.cfg-title { background: #1c2d42; color: #fff; font-size: 12px; font-weight: 650; letter-spacing: .6px;
             text-transform: uppercase; padding: 6px 14px; }
pre.yaml .k { color: #8cc4ff; } pre.yaml .c { color: #7f8c9b; font-style: italic; } pre.yaml .v { color: #f4d58d; }
.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12.5px; margin-top: 26px; text-align: center; }
@media (max-width: 860px) { .split { grid-template-columns: 1fr; } .grid2 { grid-template-columns: 1fr; } }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{_img(png, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _pct(v: Any, digits: int = 2) -> str:
    return f"{100 * v:.{digits}f}%" if isinstance(v, int | float) and math.isfinite(v) else "–"


def _num(v: Any, digits: int = 3) -> str:
    if not isinstance(v, int | float) or not math.isfinite(v):
        return "–"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _si(v: Any) -> str:
    if not isinstance(v, int | float) or not math.isfinite(v):
        return "–"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def _energy(pj: Any) -> str:
    """An energy in pJ with a readable unit (pJ, nJ, µJ, mJ, J)."""
    if not isinstance(pj, int | float) or not math.isfinite(pj):
        return "–"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _bar(fraction: Any, alt: bool = False) -> str:
    if not isinstance(fraction, int | float) or not math.isfinite(fraction):
        return ""
    width = max(0.0, min(1.0, float(fraction))) * 100
    return f'<div class="bar{" alt" if alt else ""}"><span style="width:{width:.1f}%"></span></div>'


def _table(
    headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], total: Sequence[str] | None = None
) -> str:
    """``headers``: (title, numeric); cells are already-escaped HTML."""
    head = "".join(f'<th class="num">{_e(h)}</th>' if num else f"<th>{_e(h)}</th>" for h, num in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if num else f"<td>{c}</td>" for c, (_, num) in zip(row, headers))
        body.append(f"<tr>{cells}</tr>")
    if total is not None:
        cells = "".join(f'<td class="num">{c}</td>' if num else f"<td>{c}</td>" for c, (_, num) in zip(total, headers))
        body.append(f'<tr class="total">{cells}</tr>')
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _yaml_html(text: str) -> str:
    """Escape YAML and colour keys, values and comments (line by line; no parsing needed)."""
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("#"):
            out.append(f'<span class="c">{_e(line)}</span>')
            continue
        indent = line[: len(line) - len(stripped)]
        body = stripped[2:] if stripped.startswith("- ") else stripped
        dash = "- " if stripped.startswith("- ") else ""
        key, sep, value = body.partition(":")
        if sep and key and " " not in key.strip("'\""):
            out.append(f'{indent}{dash}<span class="k">{_e(key)}</span>:<span class="v">{_e(value)}</span>')
        else:
            out.append(f'{indent}{dash}<span class="v">{_e(body)}</span>')
    return "\n".join(out)


# ----------------------------------------------------------------------------- sections
def _header(run: RunData) -> str:
    cfg = run.config
    name = cfg.get("name") or run.run_dir.name
    chips = []
    for label, value in (
        ("model", cfg.get("model", {}).get("name")),
        ("data", cfg.get("data", {}).get("name")),
        ("T", cfg.get("T")),
        ("loss", cfg.get("loss", {}).get("name")),
        ("neuron", _neuron_summary(cfg.get("neuron") or {})),
        ("optim", _optim_summary(cfg.get("optim") or {})),
        ("seed", cfg.get("seed")),
    ):
        if value not in (None, ""):
            chips.append(f'<span class="chip">{_e(label)} <b>{_e(value)}</b></span>')
    desc = f"<p>{_e(cfg['description'])}</p>" if cfg.get("description") else ""
    return (
        f'<header class="top"><div class="inner"><h1>{_e(name)}</h1>{desc}'
        f'<div class="chips">{"".join(chips)}</div><div class="path">{_e(run.run_dir.resolve())}</div></div></header>'
    )


def _neuron_summary(neuron: dict[str, Any]) -> str:
    if not neuron:
        return "model default"
    parts = [str(neuron.get("type", "?")).upper()]
    if neuron.get("imp") == "learn":
        parts.append("learned IMP")
    if neuron.get("v_threshold") == "learn":
        parts.append(f"learned θ (init {neuron.get('v_threshold_init', '?')})")
    elif "v_threshold" in neuron:
        parts.append(f"θ={neuron['v_threshold']}")
    return ", ".join(parts)


def _optim_summary(optim: dict[str, Any]) -> str:
    if not optim:
        return ""
    return f"{optim.get('name', '?')} lr {optim.get('lr', '?')}"


def _kpis(run: RunData) -> str:
    res, last = run.result, next((r for r in reversed(run.records) if R.TEST_ACC in r), {})
    final = res.get(R.RESULT_TEST_ACC, last.get(R.TEST_ACC))
    best = res.get(R.RESULT_BEST_ACC, max((r[R.TEST_ACC] for r in run.records if R.TEST_ACC in r), default=None))
    steps = res.get(R.RESULT_ACC_PER_STEP) or last.get(R.TEST_ACC_STEP) or []
    epochs_done = max((r.get(R.EPOCH, 0) for r in run.records), default=0)
    epochs_cfg = run.config.get("epochs")
    cards = [
        ("final test accuracy", _pct(final), f"readout of {run.config.get('loss', {}).get('name', '?')}"),
        ("best test accuracy", _pct(best), ""),
    ]
    if steps:
        cards.append(("first → last step", f"{_pct(steps[0], 1)} → {_pct(steps[-1], 1)}", "accuracy of one step alone"))
    cards.append(("epochs", f"{epochs_done}" + (f" / {epochs_cfg}" if epochs_cfg else ""), ""))
    if isinstance(res.get(R.RESULT_SECONDS), int | float):
        cards.append(("training time", _duration(res[R.RESULT_SECONDS]), ""))
    mon = run.monitor_record
    rate, per_sample = (R.monitor_key(R.ALL_LAYERS, m) for m in (R.FIRING_RATE, R.DEAD_FRACTION_SAMPLE))
    if rate in mon:
        cards.append(
            (
                "firing rate",
                _pct(mon[rate], 1),
                "dead neurons "
                + (
                    f"{_pct(mon[per_sample], 1)} per sample"
                    if per_sample in mon
                    else _pct(mon.get(R.monitor_key(R.ALL_LAYERS, R.DEAD_FRACTION)), 1)
                ),
            )
        )
    if run.energy:
        t = run.energy["totals"]
        ratio = t["ann_energy_pj"] / t["energy_pj"] if t.get("energy_pj") else math.nan
        cards.append(("energy / sample", _energy(t["energy_pj"]), f"{ratio:.1f}× less than the same ANN"))
    body = "".join(
        f'<div class="kpi"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
        f'<div class="sub">{_e(sub)}</div></div>'
        for label, value, sub in cards
    )
    return f'<div class="kpis">{body}</div>'


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _curves_section(run: RunData) -> str:
    if run.curves_png is None:
        return ""
    evaluated = [r for r in run.records if R.TEST_ACC in r]
    lead = f"{len(run.records)} epochs logged, {len(evaluated)} evaluated on the test set."
    return (
        f'<section id="curves"><h2>Training curves</h2><p class="lead">{_e(lead)}</p>'
        f"{_figure(run.curves_png, 'loss and accuracy per epoch (train solid, test dashed)')}</section>"
    )


def _steps_section(run: RunData) -> str:
    last = next((r for r in reversed(run.records) if R.TEST_ACC_STEP in r), {})
    steps = run.result.get(R.RESULT_ACC_PER_STEP) or last.get(R.TEST_ACC_STEP)
    cums = run.result.get(R.RESULT_ACC_CUMULATIVE) or last.get(R.TEST_ACC_CUM)
    if not steps:
        return ""
    rows = []
    for t, a in enumerate(steps):
        c = cums[t] if cums and t < len(cums) else None
        rows.append([str(t + 1), _pct(a), _bar(a), _pct(c), _bar(c, alt=True)])
    table = _table(
        [("t", True), ("step t alone", True), ("", False), ("mean of 1..t", True), ("", False)],
        rows,
    )
    fig = _figure(run.step_png, "accuracy per time step (final evaluation)") if run.step_png else ""
    return (
        '<section id="steps"><h2>Accuracy per time step</h2>'
        '<p class="lead">The output at step t alone, and the running mean of steps 1..t, on the test set '
        "(Shen et al. Fig 4).</p>"
        f'<div class="split"><div>{table}</div><div>{fig}</div></div></section>'
    )


def _activity_section(run: RunData) -> str:
    mon = run.monitor_record
    if not mon:
        return ""
    neurons, weights = monitor_tables(mon)
    parts = [
        '<section id="activity"><h2>Spiking activity</h2>'
        f'<p class="lead">Monitor at epoch {_e(mon.get(R.EPOCH, "?"))}: firing rate and dead neurons on the test '
        "set. A neuron is dead for an input when it does not spike while that input is presented (Rouser): "
        "dead / sample is the mean over test samples of the fraction of silent neurons, dead (test) counts the "
        "neurons silent for every test sample, dead / batch the training batches (epoch mean); then membrane "
        "and learned-parameter statistics.</p>"
    ]
    if neurons:
        rows = []
        for r in neurons:
            dead = r.get(R.DEAD_FRACTION_SAMPLE, r.get(R.DEAD_FRACTION))
            pill = ""
            if isinstance(dead, int | float):
                kind = "good" if dead < 0.05 else "warn" if dead < 0.3 else "bad"
                pill = f'<span class="pill {kind}">{_pct(dead, 1)}</span>'
            rows.append(
                [
                    f"<b>{_e(r['layer'])}</b>" if r["layer"] == R.ALL_LAYERS else _e(r["layer"]),
                    _num(r.get("num_neurons"), 0) if "num_neurons" in r else "–",
                    _pct(r.get(R.FIRING_RATE), 1),
                    _bar(r.get(R.FIRING_RATE)),
                    pill or "–",
                    _pct(r.get(R.DEAD_FRACTION), 1) if R.DEAD_FRACTION_SAMPLE in r else "–",
                    _pct(r.get(R.TRAIN_DEAD_FRACTION), 1),
                    _mean_std(r, "v"),
                    _mean_std(r, "imp"),
                    _mean_std(r, "threshold"),
                ]
            )
        parts.append(
            _table(
                [
                    ("layer", False),
                    ("neurons", True),
                    ("firing rate", True),
                    ("", False),
                    ("dead / sample", True),
                    ("dead (test set)", True),
                    ("dead / batch", True),
                    ("V mean ± std", True),
                    ("IMP mean ± std", True),
                    ("threshold mean ± std", True),
                ],
                rows,
            )
        )
    if weights:
        parts.append("<h3>Weight change since initialisation</h3>")
        parts.append(
            _table(
                [("layer", False), ("‖W−W₀‖ / ‖W₀‖", True), ("", False), ("‖W−W₀‖", True)],
                [
                    [
                        _e(r["layer"]),
                        _num(r.get(R.WEIGHT_CHANGE)),
                        _bar(min(r.get(R.WEIGHT_CHANGE, 0.0), 1.0) if R.WEIGHT_CHANGE in r else None, alt=True),
                        _num(r.get("weight_delta_norm")),
                    ]
                    for r in weights
                ],
            )
        )
    if run.layer_pngs:
        parts.append("<h3>Per layer over epochs</h3>")
        parts.append('<div class="grid2">' + "".join(_figure(png, title) for title, png in run.layer_pngs) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _mean_std(r: dict[str, Any], prefix: str) -> str:
    m, s = r.get(f"{prefix}_mean"), r.get(f"{prefix}_std")
    if not isinstance(m, int | float):
        return "–"
    return f"{m:.3f} ± {s:.3f}" if isinstance(s, int | float) else f"{m:.3f}"


def _energy_section(run: RunData) -> str:
    if not run.energy:
        return ""
    rep = run.energy
    rows = [
        [
            _e(r["layer"]),
            _e(r["type"]),
            _e(r["input_kind"]),
            _e(r["op"]),
            _num(r["steps"], 2),
            _pct(r["input_rate"], 2) if r["input_kind"] == "spike" else _num(r["input_rate"]),
            _si(r["macs"]),
            _si(r["sops"]),
            _si(r["energy_pj"]),
        ]
        for r in rep["layers"]
    ]
    t = rep["totals"]
    total = ["total", "", "", "", "", "", _si(t["macs"]), _si(t["sops"]), _si(t["energy_pj"])]
    src = rep.get("source", {})
    what = "trained model" if src.get("trained") else "untrained model" if src else "model"
    lead = (
        f"Per sample, {what} over {rep.get('num_samples', '?')} test samples: E = {rep.get('e_mac_pj')} pJ × MACs "
        f"+ {rep.get('e_ac_pj')} pJ × SOPs = {_energy(t['energy_pj'])}; the same network as an ANN: "
        f"{_energy(t['ann_energy_pj'])}."
    )
    table = _table(
        [
            ("layer", False),
            ("type", False),
            ("input", False),
            ("op", False),
            ("steps", True),
            ("input rate", True),
            ("MACs", True),
            ("SOPs", True),
            ("energy (pJ)", True),
        ],
        rows,
        total,
    )
    return f'<section id="energy"><h2>Energy</h2><p class="lead">{_e(lead)}</p>{table}</section>'


def _analyses_section(run: RunData) -> str:
    if not run.analyses:
        return ""
    parts = [
        '<section id="analyses"><h2>Analyses</h2><p class="lead">Outputs of <code>spikeforge analyze</code> '
        "found in the run folder.</p>"
    ]
    for a in run.analyses:
        parts.append(f"<h3>{_e(a.title)}</h3>")
        if a.images:
            cls = "gallery" if len(a.images) > 1 else "single"
            parts.append(f'<div class="{cls}">' + "".join(_figure(png, name) for name, png in a.images) + "</div>")
        if a.facts:
            parts.append(
                '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in a.facts) + "</dl>"
            )
        parts.append(f'<p class="lead" style="margin-top:6px">files: {_e(", ".join(a.files))}</p>')
    parts.append("</section>")
    return "".join(parts)


def _yaml_blocks(text: str) -> list[tuple[str, str]]:
    """Split YAML text into ``(title, lines)`` blocks: one per top-level section, the top-level scalars
    (and comments) gathered into a first ``run`` block. Works on the text, so comments and order stay."""
    general: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "- ")):
            key, _, value = line.partition(":")
            if value.strip():
                general.append(line)
                blocks.append(("", []))  # a scalar ends the previous section
            else:
                blocks.append((key.strip(), [line]))
        elif blocks and blocks[-1][0]:
            blocks[-1][1].append(line)
        elif line.strip():
            general.append(line)
    out = [("general", "\n".join(general))] if general else []
    out += [(title, "\n".join(lines)) for title, lines in blocks if title]
    return out


def _config_section(run: RunData) -> str:
    if not run.config_text:
        return ""
    cards = "".join(
        f'<div class="cfg"><div class="cfg-title">{_e(title)}</div><pre class="yaml">{_yaml_html(body)}</pre></div>'
        for title, body in _yaml_blocks(run.config_text)
    )
    return (
        '<section id="config"><h2>Configuration</h2><p class="lead">The resolved <code>config.yaml</code> of the run, '
        "by section: <code>spikeforge train RUN_DIR/config.yaml</code> reproduces it.</p>"
        f'<div class="cfg-grid">{cards}</div></section>'
    )


def render_report(run: RunData, generated: datetime.datetime | None = None) -> str:
    """The whole page as a string."""
    from .. import __version__

    sections = [
        ("curves", "Curves", _curves_section(run)),
        ("steps", "Per time step", _steps_section(run)),
        ("activity", "Activity", _activity_section(run)),
        ("energy", "Energy", _energy_section(run)),
        ("analyses", "Analyses", _analyses_section(run)),
        ("config", "Config", _config_section(run)),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, body in sections if body)
    when = (generated or datetime.datetime.now()).strftime("%Y-%m-%d %H:%M")
    title = run.config.get("name") or run.run_dir.name
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · SpikeForge report</title><style>{CSS}</style></head><body>"
        f'{_header(run)}<nav><div class="inner">{nav}</div></nav><main>{_kpis(run)}'
        + "".join(body for _, _, body in sections)
        + f"<footer>SpikeForge {_e(__version__)} · report generated {_e(when)}</footer></main></body></html>\n"
    )
