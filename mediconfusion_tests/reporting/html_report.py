"""report.html: one self-contained file a radiologist or ML lead can open from disk.

Everything is inside the file (CSS, JavaScript, images as data URIs: small
thumbnails in the page, larger copies opened on click), and every piece of
model output or dataset text goes through html.escape, so an answer that
contains markup renders as text.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import TYPE_CHECKING

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.data.images import ImageLayout
from mediconfusion_tests.data.schema import ImageRef
from mediconfusion_tests.reporting.comparison_text import html_comparison
from mediconfusion_tests.reporting.formatting import percent
from mediconfusion_tests.reporting.html_assets import SCRIPT, STYLE
from mediconfusion_tests.reporting.tables import HEADERS
from mediconfusion_tests.scoring.metrics import HEADLINE_METRICS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from mediconfusion_tests.results.document import (
        Figures,
        ImageRecord,
        LayoutRecord,
        PairRecord,
        ResultsDocument,
    )

THUMB_PX = 180
FULL_PX = 800
CLASSES = ("confused", "wrong", "invalid", "error", "skipped", "passed")
HEADLINE_LABELS = {
    "set_accuracy": ("Set accuracy", "both images right"),
    "confusion": ("Confusion", "same valid answer for both images"),
    "individual_accuracy": ("Individual accuracy", "images right"),
    "invalid_rate": ("Invalid rate", "answers that name no option"),
}


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def pct(value: float | None) -> str:
    return percent(value, digits=1, missing="–", sign=True)


def interval(ci: Sequence[float] | None) -> str:
    return "" if not ci else f"95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"


class ImageEmbedder:
    """JPEG data URIs of benchmark images, each image encoded once per size."""

    def __init__(self, layout: LayoutRecord | None) -> None:
        self.layout = ImageLayout(layout.kind, layout.root, layout.prefix) if layout else None
        self.full: dict[str, str] = {}
        self._thumbs: dict[str, str | None] = {}

    def _encode(self, path: Path, size: int) -> str:
        from PIL import Image

        with Image.open(path) as source:
            image = source.convert("RGB")
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def thumb(self, image: ImageRecord) -> str | None:
        key = str(image.local_id)
        if key not in self._thumbs:
            self._thumbs[key] = None
            if self.layout is not None:
                path = self.layout.path(ImageRef(image.roco_path, image.local_id))
                try:
                    self._thumbs[key] = self._encode(path, THUMB_PX)
                    self.full[key] = self._encode(path, FULL_PX)
                except OSError:
                    self._thumbs[key] = None
        return self._thumbs[key]


def _meta(document: ResultsDocument) -> str:
    config, env, model, dataset = document.config, document.environment, document.model, document.dataset
    instances = list(model.instances.values())
    facts = [instance.model_dump() for instance in instances]
    devices = sorted({f"{f.get('device', '?')} ({f.get('dtype', '')})" for f in facts if f.get("device")})
    revision = dataset.revision or dataset.sha256[:12]
    rows = [
        ("Model", f"{model.spec} — {model.summary}"),
        ("Checkpoint", (instances[0].fingerprint or "") if instances else ""),
        ("Mode", f"{config.mode} (answer parser: {config.answer_parser})"),
        ("Dataset", f"{dataset.source} {dataset.repo or ''} @ {revision}"),
        ("Pairs", f"{document.counts.pairs_scored} scored of {document.counts.pairs_in_dataset}"),
        ("Run", f"{document.run.id} ({document.run.duration_s:.1f} s)"),
        ("Git commit", env.git_commit or "not a git checkout"),
        (
            "Hardware",
            f"{env.platform}; {', '.join(devices) or 'no model device recorded'}; {env.xdist_workers or 1} worker(s)",
        ),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    return f'<dl class="meta">{body}</dl>'


def _verdict(document: ResultsDocument) -> str:
    gate = document.gate
    if gate is None:
        return ""
    state = "pass" if gate.passed else "fail"
    items = "".join(
        f'<li class="{"pass" if c.passed else "fail"}">{esc(c.condition)}: '
        + (
            esc(c.detail)
            if c.detail
            else f"{'undefined' if c.value is None else pct(c.value)} {esc(interval(c.ci95))} (n={c.n})"
        )
        + "</li>"
        for c in gate.conditions
    )
    word = "passed" if gate.passed else "FAILED"
    return f'<section class="verdict {state}" id="gate"><h2>Release gate {word}</h2><ul>{items}</ul></section>'


def _headline(document: ResultsDocument) -> str:
    overall = document.metrics.overall
    tiles = []
    for key in HEADLINE_METRICS:
        title, hint = HEADLINE_LABELS[key]
        figure = overall.get(key)
        tiles.append(
            f'<div class="tile" id="metric-{key}"><div class="label">{title}</div>'
            f'<div class="value">{pct(figure.value)}</div>'
            f'<div class="ci">{esc(interval(figure.ci95))}</div>'
            f'<div class="hint">{figure.k} of {figure.n} — {hint}</div></div>'
        )
    reference = (
        '<p class="reference">For scale: random guessing scores 25% set accuracy and 50% confusion. '
        f"One pair is {100 / max(1, overall.pairs):.2f} points of set accuracy here.</p>"
    )
    return f'<section id="headline"><div class="tiles">{"".join(tiles)}</div>{reference}</section>'


def _chart(document: ResultsDocument) -> str:
    """Per-category set accuracy and confusion (pairs carrying the category) with 95% intervals."""
    categories = document.metrics.categories
    if not categories:
        return ""
    label_w, plot_w, row_h = 170, 520, 34
    height = row_h * len(categories) + 50

    def x(value: float) -> float:
        return label_w + plot_w * value

    parts = [
        f'<svg class="chart" viewBox="0 0 {label_w + plot_w + 20} {height}" role="img" '
        'aria-label="Set accuracy and confusion per category">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="20" y2="{height - 24}"/>')
        parts.append(f'<text class="tick" x="{x(tick):.1f}" y="{height - 8}">{int(tick * 100)}%</text>')
    parts.append(f'<line class="ref set" x1="{x(0.25):.1f}" x2="{x(0.25):.1f}" y1="16" y2="{height - 24}"/>')
    parts.append(f'<line class="ref conf" x1="{x(0.5):.1f}" x2="{x(0.5):.1f}" y1="16" y2="{height - 24}"/>')
    for row, (name, figures) in enumerate(categories.items()):
        top = 24 + row * row_h
        parts.append(f'<text class="cat" x="{label_w - 8}" y="{top + 16}">{esc(name)}</text>')
        for offset, key, css in ((0, "set_accuracy", "set"), (13, "confusion", "conf")):
            figure = figures.pair_level.get(key)
            if figure.value is None:
                continue
            y = top + offset
            parts.append(
                f'<rect class="bar {css}" x="{label_w}" y="{y}" width="{plot_w * figure.value:.1f}" height="10">'
                f"<title>{esc(name)} {key.replace('_', ' ')}: {pct(figure.value)} "
                f"{esc(interval(figure.ci95))} ({figure.k}/{figure.n})</title></rect>"
            )
            if figure.ci95:
                low, high = figure.ci95
                parts.append(f'<line class="whisker" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y + 5}" y2="{y + 5}"/>')
    parts.append("</svg>")
    legend = (
        '<p class="legend"><span class="swatch set"></span>set accuracy <span class="swatch conf"></span>confusion '
        "(pairs carrying the category, 95% Wilson intervals; dashed lines: random guessing)</p>"
    )
    return "".join(parts) + legend


def _table(document: ResultsDocument) -> str:
    metrics = document.metrics

    def cells(name: str, fig: Figures, tag: str = "td") -> str:
        values = [
            name,
            fig.images,
            pct(fig.set_accuracy.value),
            pct(fig.individual_accuracy.value),
            pct(fig.confusion.value),
            pct(fig.invalid_rate.value),
            fig.valid_pairs,
        ]
        return "<tr>" + "".join(f"<{tag}>{esc(v)}</{tag}>" for v in values) + "</tr>"

    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADERS) + "</tr>"
    rows = "".join(cells(name, cat.paper) for name, cat in metrics.categories.items())
    return (
        f'<table class="paper"><thead>{head}</thead><tbody>{rows}</tbody>'
        f"<tfoot>{cells('All', metrics.overall, 'th')}</tfoot></table>"
        '<p class="legend">As the paper counts: per category, image-weighted.</p>'
    )


def _answer(record: PairRecord, index: int, embedder: ImageEmbedder) -> str:
    image = record.images[index]
    truth = record.truth[index]
    answer = record.answers[index] if record.answers else None
    thumb = embedder.thumb(image)
    picture = (
        f'<img class="thumb" alt="image {index + 1}" data-full="{esc(image.local_id)}" src="{thumb}">'
        if thumb
        else '<div class="noimage">image not available</div>'
    )
    if answer is None:
        said = f'<div class="said">{esc(record.reason or record.error or "no answer")}</div>'
    else:
        decision = answer.decision
        verdict = "right" if decision == truth else ("invalid" if decision is None else "wrong")
        scores = ", ".join(f"{k}: {v:.3g}" for k, v in answer.scores.items())
        said = (
            f'<div class="decision {verdict}">answered {esc(decision or "nothing valid")}</div>'
            f'<pre class="raw">{esc(answer.raw)}</pre>'
            + (f'<div class="scores">scores {esc(scores)}</div>' if scores else "")
        )
    return (
        f'<div class="image"><div class="caption">image {index + 1} · {esc(image.local_id)} · '
        f"truth {esc(truth)}</div>{picture}{said}</div>"
    )


def _card(record: PairRecord, embedder: ImageEmbedder) -> str:
    kind = "skipped" if record.status == "skipped" else (record.failure_class or "passed")
    categories = record.all_categories
    answers = record.answers or ()
    searchable = " ".join(
        [record.pair_id, record.question, *record.options, *categories, *(a.raw or "" for a in answers)]
    ).lower()
    badges = "".join(f'<span class="badge cat">{esc(c)}</span>' for c in categories)
    message = record.failure or record.reason or ""
    return (
        f'<article class="pair {kind}" data-pair="{esc(record.pair_id)}" data-class="{kind}" '
        f'data-categories="{esc("|".join(categories))}" data-search="{esc(searchable)}">'
        f'<header><span class="pid">pair {esc(record.pair_id)}</span>'
        f'<span class="badge class {kind}">{kind}</span>{badges}</header>'
        + (f'<p class="failure">{esc(message)}</p>' if message else "")
        + f'<p class="question">{esc(record.question)}</p>'
        f'<ol class="options" type="A"><li>{esc(record.options[0])}</li><li>{esc(record.options[1])}</li></ol>'
        f'<div class="images">{_answer(record, 0, embedder)}{_answer(record, 1, embedder)}</div></article>'
    )


def _controls(pairs: Iterable[PairRecord]) -> str:
    categories = sorted({c for p in pairs for c in p.all_categories})
    cats = "".join(
        f'<label><input type="checkbox" name="cat" value="{esc(c)}" checked> {esc(c)}</label>' for c in categories
    )
    kinds = "".join(f'<label><input type="checkbox" name="cls" value="{k}" checked> {k}</label>' for k in CLASSES[:-1])
    return (
        f'<div class="controls"><fieldset><legend>Categories</legend>{cats}</fieldset>'
        f"<fieldset><legend>Failure class</legend>{kinds}</fieldset>"
        '<fieldset><legend>Find</legend><input type="search" id="search" placeholder="pair, question, answer…">'
        '<label><input type="checkbox" id="show-passing"> show passing pairs</label></fieldset>'
        '<p id="counter" aria-live="polite"></p></div>'
    )


def render(document: ResultsDocument) -> str:
    embedder = ImageEmbedder(document.dataset.layout)
    pairs = document.pairs
    cards = "".join(_card(record, embedder) for record in pairs)
    problems = "".join(f"<li>{esc(p)}</li>" for p in document.problems)
    note = document.model.note
    title = f"MediConfusion: {document.model.spec} ({document.config.mode})"
    images = json.dumps(embedder.full)  # base64 and ids only: nothing here can close a script element
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head><body>'
        f'<header class="top"><h1>{esc(title)}</h1>{_meta(document)}'
        + (f'<p class="note">{esc(note)}</p>' if note else "")
        + f"</header>{_verdict(document)}{_headline(document)}{html_comparison(document.baseline)}"
        + (f'<section id="problems"><h2>Problems</h2><ul>{problems}</ul></section>' if problems else "")
        + f'<section id="categories"><h2>By category</h2>{_chart(document)}{_table(document)}</section>'
        f'<section id="pairs"><h2>Pairs</h2>{_controls(pairs)}<div id="cards">{cards}</div></section>'
        f'<div id="lightbox" hidden><img alt="full size"></div>'
        f'<script type="application/json" id="full-images">{images}</script><script>{SCRIPT}</script></body></html>'
    )


def write_report(document: ResultsDocument, path: Path) -> Path:
    write_text_atomic(path, render(document))
    return path
