"""``review.html``: the candidates of a mining run as a self-contained page a radiologist works through.

Each candidate shows both images side by side, both texts and both similarities, with fields for the question,
the two options, which option is true for each image and the categories, and keep / drop buttons. Work is
saved in the browser (localStorage, per mining run) and exported as ``pairs.csv`` in the columns
``mediconfusion make-pairs`` reads, checked first (a kept row needs a question, two different options, answers
that differ and a category). No server, no network: images are embedded as JPEG data URIs.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.data.own_pairs import CSV_COLUMNS
from mediconfusion_tests.mining.drafting import draft_fields
from mediconfusion_tests.reporting.html_assets import STYLE
from mediconfusion_tests.reporting.html_report import esc, jpeg_data_uri, script_json

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.mining.drafting import DraftResult
    from mediconfusion_tests.mining.search import Candidate
    from mediconfusion_tests.mining.sources import CaptionedImage

#: Longest side of an embedded image, in pixels.
IMAGE_PX = 448
#: make-pairs' columns, and an id naming both images.
EXPORT_COLUMNS = ("id", *CSV_COLUMNS)

REVIEW_STYLE = """
article.candidate { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 12px 0;
  padding: 10px 14px; }
article.candidate.keep { border-left: 6px solid var(--pass); } article.candidate.drop { opacity: .55;
  border-left: 6px solid var(--fail); }
.images { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.images figure { margin: 0; } .images img { width: 100%; max-height: 420px; object-fit: contain; background: #000; }
.images figcaption { color: var(--muted); font-size: 12px; white-space: pre-wrap; }
.fields { display: grid; grid-template-columns: max-content 1fr; gap: 6px 10px; margin-top: 8px; }
.fields input, .fields textarea, .fields select { font: inherit; width: 100%; }
.actions button { font: inherit; margin-right: 8px; } .problems { color: var(--fail); }
.sims { color: var(--muted); font-size: 12px; }
"""

REVIEW_SCRIPT = """
const DATA = JSON.parse(document.getElementById('data').textContent);
const KEY = 'mediconfusion-review-' + DATA.run;
let state = {};
try { state = JSON.parse(localStorage.getItem(KEY) || '{}'); } catch (e) { state = {}; }
const FIELDS = ['question', 'option_a', 'option_b', 'answer_1', 'categories', 'status'];
function row(rank) { return Object.assign({}, DATA.rows.find(r => r.rank === rank), state[rank] || {}); }
function save(rank, values) { state[rank] = Object.assign(state[rank] || {}, values);
  try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) {} counts(); }
function counts() {
  const statuses = DATA.rows.map(r => row(r.rank).status || 'review');
  const n = s => statuses.filter(x => x === s).length;
  document.getElementById('counter').textContent =
    `${n('keep')} kept, ${n('drop')} dropped, ${n('review')} to review of ${DATA.rows.length}`;
}
function show(card, status) { card.classList.toggle('keep', status === 'keep');
  card.classList.toggle('drop', status === 'drop'); }
for (const card of document.querySelectorAll('article.candidate')) {
  const rank = Number(card.dataset.rank);
  const current = row(rank);
  for (const name of FIELDS.slice(0, 5)) {
    const input = card.querySelector(`[name=${name}]`);
    if (current[name] !== undefined) input.value = current[name];
    input.addEventListener('input', () => save(rank, {[name]: input.value}));
  }
  show(card, current.status);
  for (const button of card.querySelectorAll('button[data-status]')) {
    button.addEventListener('click', () => { save(rank, {status: button.dataset.status});
      show(card, button.dataset.status); });
  }
}
function csvCell(value) { const text = String(value ?? '');
  return /[",\\n\\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text; }
function problemsOf(r) {
  const out = [];
  if (!(r.question || '').trim()) out.push('no question');
  if (!(r.option_a || '').trim() || !(r.option_b || '').trim()) out.push('an option is empty');
  else if (r.option_a.trim() === r.option_b.trim()) out.push('the two options are the same');
  if (!['A', 'B'].includes(r.answer_1)) out.push('no answer for image 1');
  if (!(r.categories || '').trim()) out.push('no category');
  return out;
}
document.getElementById('export').addEventListener('click', () => {
  const kept = DATA.rows.map(r => row(r.rank)).filter(r => r.status === 'keep');
  const problems = [];
  for (const r of kept) for (const p of problemsOf(r)) problems.push(`candidate ${r.rank}: ${p}`);
  const box = document.getElementById('export-problems');
  box.textContent = problems.join('\\n');
  if (!kept.length) { box.textContent = 'keep at least one candidate first'; return; }
  if (problems.length) return;
  const lines = [DATA.columns.join(',')];
  for (const r of kept) {
    const values = {id: `${r.id_1}~${r.id_2}`, image_1: r.image_1, image_2: r.image_2, question: r.question.trim(),
      option_a: r.option_a.trim(), option_b: r.option_b.trim(), answer_1: r.answer_1,
      answer_2: r.answer_1 === 'A' ? 'B' : 'A', categories: r.categories.trim()};
    lines.push(DATA.columns.map(c => csvCell(values[c])).join(','));
  }
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([lines.join('\\n') + '\\n'], {type: 'text/csv'}));
  link.download = 'pairs.csv';
  document.body.appendChild(link); link.click(); link.remove();
});
counts();
"""


def _card(rank: int, found: Candidate, a: CaptionedImage, b: CaptionedImage, draft: str) -> str:
    figures = "".join(
        f'<figure><img alt="image {n}: {esc(item.id)}" src="{jpeg_data_uri(item.path, IMAGE_PX, quality=88)}">'
        f"<figcaption><b>{n}. {esc(item.id)}</b>{' · ' + esc(item.source) if item.source else ''}\n"
        f"{esc(item.text)}</figcaption></figure>"
        for n, item in ((1, a), (2, b))
    )
    return f"""<article class="candidate" data-rank="{rank}">
<h3>Candidate {rank}</h3>
<p class="sims">encoder similarity {found.encoder_sim:.3f} · reference similarity {found.reference_sim:.3f} ·
gap {found.gap:.3f}</p>{draft}
<div class="images">{figures}</div>
<div class="fields">
<label for="q{rank}">Question</label><textarea id="q{rank}" name="question" rows="2"></textarea>
<label for="a{rank}">Option A</label><input id="a{rank}" name="option_a">
<label for="b{rank}">Option B</label><input id="b{rank}" name="option_b">
<label for="t{rank}">True for image 1</label><select id="t{rank}" name="answer_1"><option value="">choose</option>
<option value="A">A (image 2: B)</option><option value="B">B (image 2: A)</option></select>
<label for="c{rank}">Categories</label><input id="c{rank}" name="categories" placeholder="e.g. Lung; Vascular">
</div>
<p class="actions"><button type="button" data-status="keep">Keep</button>
<button type="button" data-status="drop">Drop</button></p>
</article>"""


def render_review(
    items: Sequence[CaptionedImage],
    candidates: Sequence[Candidate],
    settings: dict[str, Any],
    drafts: Sequence[DraftResult] = (),
) -> str:
    rows = []
    cards = []
    for rank, found in enumerate(candidates, start=1):
        a, b = items[found.first], items[found.second]
        categories = "; ".join(dict.fromkeys(c for c in (a.category, b.category) if c))
        draft = drafts[rank - 1] if drafts else None
        fields = draft_fields(draft, categories)
        row = {"rank": rank, "id_1": a.id, "id_2": b.id, "image_1": str(a.path.resolve())}
        row |= {"image_2": str(b.path.resolve()), "categories": fields["categories"]}
        if draft is not None and draft.draft is not None:
            # The draft fills the fields; the reviewer still keeps, fixes or drops it.
            row |= {name: fields[name] for name in ("question", "option_a", "option_b", "answer_1")}
        rows.append(row)
        said = (
            "" if draft is None else f'<p class="sims">draft by {esc(settings.get("drafter"))}: {esc(draft.status)}</p>'
        )
        cards.append(_card(rank, found, a, b, said))
    run = hashlib.sha256(script_json([settings, rows]).encode()).hexdigest()[:16]
    data = {"run": run, "columns": list(EXPORT_COLUMNS), "rows": rows}
    summary = (
        f"{len(candidates)} candidate pair(s) · encoder {esc(settings.get('encoder'))} ≥ "
        f"{settings.get('min_encoder_sim')} · reference {esc(settings.get('reference'))} ≤ "
        f"{settings.get('max_reference_sim')}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Review: candidate confusing pairs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}{REVIEW_STYLE}</style></head>
<body>
<header class="top"><h1>Candidate confusing pairs</h1><p>{summary}</p>
<p>For each candidate: write a question both images answer differently, the two options, which is true for
image 1, and the categories; then Keep or Drop. Your work stays in this browser. Export writes
<code>pairs.csv</code> for <code>mediconfusion make-pairs pairs.csv -o my-pairs</code>.</p>
<p><b id="counter"></b> <button type="button" id="export">Export pairs.csv</button></p>
<pre class="problems" id="export-problems"></pre></header>
<section>{"".join(cards) or "<p>No candidate passed both thresholds.</p>"}</section>
<script type="application/json" id="data">{script_json(data)}</script>
<script>{REVIEW_SCRIPT}</script>
</body></html>
"""
