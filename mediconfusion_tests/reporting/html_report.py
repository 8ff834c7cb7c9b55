"""report.html: one self-contained file a radiologist or ML lead can open from disk.

Everything is inside the file (CSS, JavaScript, images as data URIs: small
thumbnails in the page, larger copies opened on click). The summary, figures and
tables are HTML, every dataset or model text escaped. The pairs are data: one
JSON block the page's script turns into cards, a class group at a time and only
when it is opened, with text set through the DOM (never as markup), so a report
of 10,000 pairs opens at once and an answer holding markup shows as text.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.data.images import ImageLayout
from mediconfusion_tests.data.schema import ImageRef
from mediconfusion_tests.reporting.comparison_text import html_comparison
from mediconfusion_tests.reporting.formatting import benchmark_name, percent, probe_failure_text
from mediconfusion_tests.reporting.hints import hints
from mediconfusion_tests.reporting.html_assets import SCRIPT, STYLE
from mediconfusion_tests.reporting.html_charts import (
    interval_chart,
    letter_bias_chart,
    outcome_chart,
    probe_chart,
    similarity_chart,
    worst_first,
)
from mediconfusion_tests.reporting.tables import HEADERS
from mediconfusion_tests.scoring.metrics import HEADLINE_METRICS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.results.document import (
        DatasetRecord,
        ImageRecord,
        LayoutRecord,
        PairRecord,
        ProbePairRecord,
        ResultsDocument,
    )
    from mediconfusion_tests.scoring.metrics import Figures
    from mediconfusion_tests.scoring.stats import Proportion

THUMB_PX = 180
FULL_PX = 800
#: The order of the pair groups: what MediConfusion is about first, passing pairs last.
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


def shorten(text: str) -> str:
    """A path as a reader of a shared report wants it: the home folder as ~, nothing of this machine's layout."""
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text


def script_json(data: object) -> str:
    """JSON that cannot end the <script> element it sits in, whatever strings it holds."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def jpeg_data_uri(path: Path, size: int, quality: int = 85) -> str:
    """The image at most ``size`` pixels on its longer side, as a JPEG data URI (pages that carry their images)."""
    from PIL import Image

    with Image.open(path) as source:
        image = source.convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class ImageEmbedder:
    """JPEG data URIs of benchmark images, each image encoded once per size."""

    def __init__(self, layout: LayoutRecord | None) -> None:
        self.layout = ImageLayout(layout.kind, layout.root, layout.prefix) if layout else None
        self.thumbs: dict[str, str] = {}
        self.full: dict[str, str] = {}
        self._tried: set[str] = set()

    def add(self, image: ImageRecord) -> str | None:
        """The image's key in the page's image tables, or None when it is not available."""
        key = str(image.local_id)
        if key not in self._tried:
            self._tried.add(key)
            if self.layout is not None:
                path = self.layout.path(ImageRef(image.roco_path, image.local_id))
                try:
                    self.thumbs[key] = jpeg_data_uri(path, THUMB_PX)
                    self.full[key] = jpeg_data_uri(path, FULL_PX)
                except OSError:
                    pass
        return key if key in self.thumbs else None


def dataset_line(dataset: DatasetRecord) -> str:
    if dataset.source == "hub":
        revision = dataset.revision or dataset.requested_revision or "main"
        return f"{dataset.repo} (Hugging Face hub) at revision {revision}"
    if dataset.source == "sample":
        return "sample: the built-in synthetic benchmark (16 pairs)"
    return f"{shorten(dataset.file)} (sha256 {dataset.sha256[:12]})"


def _meta(document: ResultsDocument) -> str:
    config, env, model = document.config, document.environment, document.model
    instances = list(model.instances.values())
    facts = [instance.model_dump() for instance in instances]
    devices = sorted({f"{f.get('device', '?')} ({f.get('dtype', '')})" for f in facts if f.get("device")})
    rows = [
        ("Model", f"{model.spec} — {model.summary}"),
        ("Checkpoint", shorten((instances[0].fingerprint or "") if instances else "")),
        ("Mode", f"{config.mode} (answer parser: {config.answer_parser})"),
        ("Dataset", dataset_line(document.dataset)),
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


def _no_results(document: ResultsDocument) -> str:
    """A run that scored nothing (its model could not load, every pair errored) says so first: no tiles of
    dashes, no "one pair is N points" that reads like a result."""
    reasons = list(document.problems) or [
        f"{document.counts.pairs_errored} pair(s) errored and none was scored; see the pairs below"
        if document.counts.pairs_errored
        else "no pair was scored"
    ]
    items = "".join(f'<li class="fail">{esc(reason)}</li>' for reason in reasons)
    return (
        '<section class="verdict fail" id="no-results"><h2>No results: this run scored none of the '
        f"{document.counts.pairs_in_dataset} pairs</h2><ul>{items}</ul></section>"
    )


def _headline(document: ResultsDocument) -> str:
    if document.counts.pairs_scored == 0:
        return _no_results(document)
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


def _notes(document: ResultsDocument) -> str:
    # A run that scored nothing shows its problems in the banner at the top (_no_results).
    shown = document.problems if document.counts.pairs_scored else []
    problems = "".join(f'<li class="problem">{esc(p)}</li>' for p in shown)
    warnings = "".join(f'<li class="warning">{esc(w)}</li>' for w in document.warnings)
    notes = "".join(f"<li>{esc(h)}</li>" for h in hints(document))
    if not (problems or warnings or notes):
        return ""
    return f'<section id="notes"><h2>Notes</h2><ul class="notes">{problems}{warnings}{notes}</ul></section>'


def _table(document: ResultsDocument) -> str:
    """The paper's table, worst categories first; every column sorts on a click."""
    metrics = document.metrics

    def cells(name: str, fig: Figures, tag: str = "td") -> str:
        values = [
            (name, name),
            (fig.images, fig.images),
            (pct(fig.set_accuracy.value), fig.set_accuracy.value),
            (pct(fig.individual_accuracy.value), fig.individual_accuracy.value),
            (pct(fig.confusion.value), fig.confusion.value),
            (pct(fig.invalid_rate.value), fig.invalid_rate.value),
            (fig.valid_pairs, fig.valid_pairs),
        ]
        return (
            "<tr>"
            + "".join(f'<{tag} data-sort="{esc("" if key is None else key)}">{esc(v)}</{tag}>' for v, key in values)
            + "</tr>"
        )

    head = "<tr>" + "".join(f'<th><button type="button">{esc(h)}</button></th>' for h in HEADERS) + "</tr>"
    rows = "".join(cells(name, metrics.categories[name].paper) for name in worst_first(document))
    return (
        f'<div class="wide"><table class="paper sortable"><thead>{head}</thead><tbody>{rows}</tbody>'
        f"<tfoot>{cells('All', metrics.overall, 'th')}</tfoot></table></div>"
        '<p class="legend">As the paper counts: per category, image-weighted. Worst categories first; click a '
        "heading to sort.</p>"
    )


def _kind(record: PairRecord) -> str:
    return "skipped" if record.status in ("skipped", "not run") else (record.failure_class or "passed")


def _pair_data(record: PairRecord, embedder: ImageEmbedder) -> dict[str, Any]:
    answers = record.answers
    images = []
    for index, image in enumerate(record.images):
        answer = answers[index] if answers else None
        images.append(
            {
                "id": image.local_id,
                "key": embedder.add(image),
                "truth": record.truth[index],
                "decision": None if answer is None else answer.decision,
                "answered": answer is not None,
                "raw": None if answer is None else answer.raw,
                "scores": {} if answer is None else answer.scores,
            }
        )
    return {
        "id": record.pair_id,
        "kind": _kind(record),
        "categories": record.all_categories,
        "question": record.question,
        "options": list(record.options),
        "message": record.failure or record.reason or record.error or "",
        "images": images,
    }


def _pairs(document: ResultsDocument, embedder: ImageEmbedder) -> tuple[str, dict[str, Any]]:
    data = [_pair_data(record, embedder) for record in document.pairs]
    counts = {kind: sum(1 for p in data if p["kind"] == kind) for kind in CLASSES}
    categories = sorted({c for p in data for c in p["categories"]})
    cats = "".join(
        f'<label><input type="checkbox" name="cat" value="{esc(c)}" checked> {esc(c)}</label>' for c in categories
    )
    groups = "".join(
        f'<details class="group {kind}" data-class="{kind}"><summary><span class="badge class {kind}">{kind}</span> '
        f'<span class="count">{counts[kind]}</span> pair(s)</summary><div class="cards"></div></details>'
        for kind in CLASSES
        if counts[kind]
    )
    controls = (
        f'<div class="controls"><fieldset><legend>Categories</legend>{cats}</fieldset>'
        '<fieldset><legend>Find</legend><input type="search" id="search" placeholder="pair, question, answer…">'
        '</fieldset><p id="counter" aria-live="polite"></p></div>'
    )
    section = (
        '<section id="pairs"><h2>Pairs</h2><p class="legend">Grouped by outcome; open a group to see its pairs '
        f"(both images, the question, the truth and the raw answers).</p>{controls}{groups}</section>"
    )
    return section, {"pairs": data, "thumbs": embedder.thumbs, "full": embedder.full}


#: Failing probes drawn as cards, each with its images; the rest are counted.
PROBE_CARDS = 50


def _probe_cell(figure: Proportion | None) -> str:
    if figure is None or figure.value is None:
        return "<td>–</td>"
    interval = (
        f' <span class="ci">[{100 * figure.ci95[0]:.1f}–{100 * figure.ci95[1]:.1f}]</span>' if figure.ci95 else ""
    )
    return f'<td title="{figure.k} of {figure.n} pairs held">{100 * figure.value:.1f}%{interval}</td>'


def _letters(decisions: Sequence[str | None]) -> str:
    return " / ".join(d or "invalid" for d in decisions)


def _perturbed_uri(embedder: ImageEmbedder, image: ImageRecord, params: dict[str, Any]) -> str | None:
    """The image probe's perturbed copy, drawn again from its recorded parameters (deterministic)."""
    if embedder.layout is None or not params:
        return None
    from PIL import Image

    from mediconfusion_tests.data.perturb import Perturbation, apply

    path = embedder.layout.path(ImageRef(image.roco_path, image.local_id))
    try:
        with Image.open(path) as source:
            data, _ = apply(source, Perturbation(**params))
        with Image.open(io.BytesIO(data)) as perturbed:
            shown = perturbed.convert("RGB")
    except (OSError, TypeError, ValueError):
        return None
    shown.thumbnail((THUMB_PX, THUMB_PX))
    buffer = io.BytesIO()
    shown.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumb(uri: str | None, caption: str) -> str:
    picture = f'<img class="thumb" src="{uri}" alt="{esc(caption)}">' if uri else '<div class="noimage">no image</div>'
    return f'<div class="image">{picture}<div class="caption">{esc(caption)}</div></div>'


def _probe_card(record: ProbePairRecord, pair: PairRecord | None, embedder: ImageEmbedder) -> str:
    """One probe of one pair that did not hold: what changed, and the images it was asked about (for the
    image probe, each original beside its perturbed copy)."""
    status = "error" if record.status == "error" else "confused"
    categories = sorted(set(record.categories[0]) | set(record.categories[1]))
    head = (
        f'<header><span class="pid">{esc(record.probe)} · pair {esc(record.pair_id)}</span>'
        f'<span class="badge class {status}">{esc(record.status)}</span>'
        + "".join(f'<span class="badge">{esc(c)}</span>' for c in categories)
        + "</header>"
    )
    broken = [v for v in record.variants if not v.consistent]
    body = f'<p class="failure">{esc(probe_failure_text(record))}</p>'
    if pair is not None:
        body += f'<p class="question">{esc(pair.question)}</p>'
        body += f'<p class="options">A: {esc(pair.options[0])} · B: {esc(pair.options[1])}</p>'
        cells = []
        for index, image in enumerate(pair.images):
            key = embedder.add(image)
            cells.append(_thumb(embedder.thumbs.get(key) if key else None, f"image {index + 1} (benchmark)"))
            if record.probe == "image" and broken:
                cells.append(
                    _thumb(_perturbed_uri(embedder, image, broken[0].params), f"image {index + 1}, {broken[0].variant}")
                )
        columns = " probe4" if record.probe == "image" and broken else ""
        body += f'<div class="images{columns}">{"".join(cells)}</div>'
    return f'<article class="pair {status}">{head}{body}</article>'


def _probes(document: ResultsDocument, embedder: ImageEmbedder) -> str:
    """Consistency per probe (a chart with intervals) and per category (a table), and a card for each pair
    whose decisions did not hold, with its images."""
    probes = document.probes
    if probes is None or not probes.figures:
        return ""
    names = list(probes.figures)
    categories = sorted({c for f in probes.figures.values() for c in f.categories})
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    rows = ["<tr><th>All</th>" + "".join(_probe_cell(probes.figures[n].consistency) for n in names) + "</tr>"]
    for category in categories:
        cells = "".join(_probe_cell(probes.figures[n].categories.get(category)) for n in names)
        rows.append(f"<tr><td>{esc(category)}</td>{cells}</tr>")
    paraphrase = probes.figures.get("paraphrase")
    extra = (
        f"<p>Paraphrased benchmark set accuracy: {percent(paraphrase.set_accuracy.value, missing='-')}%</p>"
        if paraphrase is not None and paraphrase.set_accuracy is not None
        else ""
    )
    pairs = {p.pair_id: p for p in document.pairs}
    broken = [p for p in probes.pairs if p.status in ("inconsistent", "error")]
    cards = "".join(_probe_card(record, pairs.get(record.pair_id), embedder) for record in broken[:PROBE_CARDS])
    more = f'<p class="legend">{len(broken) - PROBE_CARDS} more not shown (all are in results.json).</p>'
    listed = (
        f"<h3>Decisions that did not hold ({len(broken)})</h3>{cards}" + (more if len(broken) > PROBE_CARDS else "")
        if broken
        else ""
    )
    return (
        '<section id="probes"><h2>Robustness probes</h2>'
        f'<p class="legend">Consistency: pairs whose decisions held under the probe, with 95% intervals. Run seed '
        f"{probes.seed}; {probes.examples} perturbed example(s) per pair for the image probe.</p>{extra}"
        f"{probe_chart({n: probes.figures[n].consistency for n in names})}"
        f'<div class="wide"><table class="paper" id="probe-table"><thead><tr><th>Category</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{listed}</section>"
    )


def _encoder(document: ResultsDocument) -> str:
    """Confusion against how alike the model's vision features find a pair's images (--encoder-similarity)."""
    record = document.encoder_similarity
    if record is None or not record.bins:
        return ""
    sentence = record.sentence() or ""
    reference = f" Reference encoder: {esc(record.reference)}." if record.reference else ""
    notes = "".join(f"<li>{esc(note)}</li>" for note in record.notes)
    return (
        '<section id="encoder"><h2>Confusion and the vision encoder</h2>'
        f"<p>{esc(sentence)}.</p>"
        '<p class="legend">Each row: the pairs with two valid answers whose two images are about as alike in the '
        f"model's own vision features ({esc(record.pooling)}; cosine similarity), in bins of equal counts, and how "
        "many of them the model confused (95% Wilson intervals). Confusion that climbs with similarity sits where "
        "the encoder cannot tell the images apart: a vision-side problem. Confusion that stays flat is decided on "
        f"the language side.{reference}</p>"
        + similarity_chart(record)
        + (f"<ul>{notes}</ul>" if notes else "")
        + "</section>"
    )


def render(document: ResultsDocument) -> str:
    embedder = ImageEmbedder(document.dataset.layout if document.config.images_in_report else None)
    pairs_section, data = _pairs(document, embedder)
    note = document.model.note
    title = f"{benchmark_name(document)}: {document.model.spec} ({document.config.mode})"
    probes = _probes(document, embedder)
    categories = (
        f'<section id="categories"><h2>By category</h2>{outcome_chart(document)}{letter_bias_chart(document)}'
        f"{interval_chart(document)}{_table(document)}</section>"
        if document.metrics.categories
        else ""
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head><body>'
        f'<header class="top"><h1>{esc(title)}</h1>{_meta(document)}'
        + (f'<p class="note">{esc(note)}</p>' if note else "")
        + f"</header>{_verdict(document)}{_headline(document)}{_notes(document)}"
        f"{html_comparison(document.baseline)}{categories}{_encoder(document)}{probes}{pairs_section}"
        '<div id="lightbox" hidden><img alt="full size"></div>'
        f'<script type="application/json" id="report-data">{script_json(data)}</script>'
        f"<script>{SCRIPT}</script></body></html>"
    )


def write_report(document: ResultsDocument, path: Path) -> Path:
    write_text_atomic(path, render(document))
    return path
