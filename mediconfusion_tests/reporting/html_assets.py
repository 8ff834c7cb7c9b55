"""The CSS and JavaScript embedded in report.html (no network, no build step)."""

from __future__ import annotations

STYLE = """
:root { --fg: #1d2329; --muted: #5b6670; --line: #d9dee3; --bg: #f6f7f9; --card: #fff;
  --pass: #1f7a3f; --fail: #b3261e; --warn: #9a6700; --set: #2f6fb3; --conf: #c05621; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
header.top, section { max-width: 1180px; margin: 0 auto; padding: 14px 20px; overflow-wrap: anywhere; }
.wide { max-width: 100%; overflow-x: auto; }
.wide table th, .wide table td { white-space: nowrap; }
#leaderboard td:nth-child(2), #leaderboard th:nth-child(2) { text-align: left; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 17px; margin: 6px 0 10px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; color: var(--muted); }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.note { background: #fff4d6; border-left: 4px solid var(--warn); padding: 6px 10px; }
/* The box lines up with the content of the other sections (their 20px padding), at any width. */
.verdict { border-left: 6px solid; background: var(--card); width: calc(100% - 40px); max-width: 1140px; }
.verdict li { overflow-wrap: anywhere; }
ul.notes li.problem { color: var(--fail); font-weight: 600; } ul.notes li.warning { color: var(--warn); }
.verdict.pass { border-color: var(--pass); } .verdict.fail { border-color: var(--fail); }
.verdict li.pass::marker { content: "✔ "; color: var(--pass); } .verdict li.fail::marker { content: "✘ "; color: var(--fail); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tile .label { color: var(--muted); } .tile .value { font-size: 26px; font-weight: 700; }
.tile .ci, .tile .hint, .reference, .legend { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; max-width: 720px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
svg .grid { stroke: var(--line); } svg .tick { font-size: 10px; fill: var(--muted); text-anchor: middle; }
svg .cat { font-size: 12px; text-anchor: end; fill: var(--fg); }
svg .bar.set { fill: var(--set); } svg .bar.conf { fill: var(--conf); } svg .count { font-size: 11px; fill: var(--muted); }
svg.stacked .ref { stroke: #333; } h3 { font-size: 15px; margin: 18px 0 4px; }
.seg.passed, .swatch.passed { fill: var(--pass); background: var(--pass); }
.seg.confused, .swatch.confused { fill: var(--conf); background: var(--conf); }
.seg.wrong, .swatch.wrong { fill: var(--fail); background: var(--fail); }
.seg.invalid, .swatch.invalid { fill: #b8a000; background: #b8a000; }
.seg.error, .swatch.error { fill: #555; background: #555; }
.seg.A, .swatch.A { fill: #2f6fb3; background: #2f6fb3; } .seg.B, .swatch.B { fill: #8e44ad; background: #8e44ad; }
svg .whisker { stroke: #111; stroke-width: 1.5; } svg .ref { stroke-dasharray: 4 3; stroke-width: 1.2; }
svg .ref.set { stroke: var(--set); } svg .ref.conf { stroke: var(--conf); } svg .ref.zero { stroke: #333; }
svg .dot.set { fill: var(--set); } svg .dot.conf { fill: var(--conf); }
svg .whisker.set { stroke: var(--set); } svg .whisker.conf { stroke: var(--conf); }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
.swatch.set { background: var(--set); } .swatch.conf { background: var(--conf); }
table.paper { border-collapse: collapse; background: var(--card); margin-top: 12px; }
table.sortable th button { all: unset; cursor: pointer; font-weight: 600; }
table.sortable th button::after { content: " ↕"; color: var(--muted); font-size: 11px; }
table.paper th, table.paper td { border: 1px solid var(--line); padding: 4px 10px; text-align: right; }
table.paper th:first-child, table.paper td:first-child { text-align: left; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.controls fieldset { border: 1px solid var(--line); border-radius: 6px; background: var(--card); }
.controls label { margin-right: 10px; white-space: nowrap; } #search { width: 240px; }
#counter { color: var(--muted); width: 100%; margin: 4px 0; }
details.group { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 8px 0;
  padding: 6px 12px; }
details.group > summary { cursor: pointer; font-weight: 600; } details.group .count { font-variant-numeric: tabular-nums; }
article.pair { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--fail);
  border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
article.pair.passed { border-left-color: var(--pass); } article.pair.invalid { border-left-color: var(--warn); }
article.pair.skipped { border-left-color: var(--muted); }
article.pair header { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.pid { font-weight: 700; margin-right: 6px; }
.badge { border-radius: 10px; padding: 1px 8px; font-size: 12px; background: #eef1f4; }
.badge.class { color: #fff; background: var(--fail); } .badge.class.passed { background: var(--pass); }
.badge.class.invalid { background: var(--warn); } .badge.class.skipped { background: var(--muted); }
.badge.class.confused { background: var(--conf); } .badge.class.error { background: #555; }
.failure { color: var(--fail); margin: 6px 0; } .question { font-weight: 600; margin: 6px 0 2px; }
.options { margin: 0 0 8px; }
.images { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.images.probe4 { grid-template-columns: repeat(4, minmax(0, 1fr)); }
#probe-table .ci { color: var(--muted); font-size: 12px; }
.image .caption { color: var(--muted); font-size: 12px; }
.thumb { max-width: 180px; max-height: 180px; cursor: zoom-in; border: 1px solid var(--line); display: block; }
.noimage { width: 180px; height: 60px; display: grid; place-items: center; color: var(--muted); border: 1px dashed var(--line); }
.decision { font-weight: 600; margin-top: 4px; } .decision.right { color: var(--pass); }
.decision.wrong { color: var(--fail); } .decision.invalid { color: var(--warn); }
pre.raw { white-space: pre-wrap; overflow-wrap: anywhere; background: #f3f4f6; padding: 6px; margin: 4px 0;
  max-height: 160px; overflow: auto; font-size: 12px; }
.scores { color: var(--muted); font-size: 12px; }
#lightbox { position: fixed; inset: 0; background: rgba(0, 0, 0, .82); display: grid; place-items: center; cursor: zoom-out; }
#lightbox[hidden] { display: none; } #lightbox img { max-width: 94vw; max-height: 94vh; background: #000; }
@media (max-width: 700px) { .images { grid-template-columns: 1fr; } }
"""

SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const search = document.getElementById('search');
  const counter = document.getElementById('counter');
  const box = document.getElementById('lightbox');
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  for (const pair of data.pairs) {
    const texts = [pair.id, pair.question, ...pair.options, ...pair.categories, pair.message];
    for (const image of pair.images) texts.push(image.raw || '');
    pair.search = texts.join(' ').toLowerCase();
  }
  function card(pair) {
    const article = el('article', 'pair ' + pair.kind);
    article.dataset.pair = pair.id; article.dataset.class = pair.kind;
    article.dataset.categories = pair.categories.join('|');
    const head = el('header');
    head.append(el('span', 'pid', 'pair ' + pair.id), el('span', 'badge class ' + pair.kind, pair.kind));
    for (const c of pair.categories) head.append(el('span', 'badge cat', c));
    article.append(head);
    if (pair.message) article.append(el('p', 'failure', pair.message));
    article.append(el('p', 'question', pair.question));
    const options = el('ol', 'options'); options.type = 'A';
    for (const option of pair.options) options.append(el('li', null, option));
    article.append(options);
    const images = el('div', 'images');
    pair.images.forEach((image, index) => {
      const cell = el('div', 'image');
      cell.append(el('div', 'caption', 'image ' + (index + 1) + ' · ' + image.id + ' · truth ' + image.truth));
      if (image.key && data.thumbs[image.key]) {
        const img = el('img', 'thumb'); img.alt = 'image ' + (index + 1);
        img.src = data.thumbs[image.key]; img.dataset.full = image.key; cell.append(img);
      } else {
        cell.append(el('div', 'noimage', 'image not available'));
      }
      if (!image.answered) {
        cell.append(el('div', 'said', pair.message || 'no answer'));
      } else {
        const verdict = image.decision === image.truth ? 'right' : (image.decision ? 'wrong' : 'invalid');
        cell.append(el('div', 'decision ' + verdict, 'answered ' + (image.decision || 'nothing valid')));
        cell.append(el('pre', 'raw', image.raw));
        const scores = Object.entries(image.scores).map(([k, v]) => k + ': ' + Number(v).toPrecision(3));
        if (scores.length) cell.append(el('div', 'scores', 'scores ' + scores.join(', ')));
      }
      images.append(cell);
    });
    article.append(images);
    return article;
  }
  const checked = () => new Set(Array.from(document.querySelectorAll('input[name="cat"]:checked'), (b) => b.value));
  function apply() {
    const cats = checked(), query = search.value.trim().toLowerCase();
    let shown = 0;
    for (const group of document.querySelectorAll('details.group')) {
      const members = data.pairs.filter((p) => p.kind === group.dataset.class &&
        p.categories.some((c) => cats.has(c)) && (!query || p.search.includes(query)));
      group.querySelector('summary .count').textContent = members.length;
      shown += members.length;
      const cards = group.querySelector('.cards');
      cards.replaceChildren();
      if (group.open) cards.append(...members.map(card));
    }
    counter.textContent = 'Matching ' + shown + ' of ' + data.pairs.length + ' pairs';
  }
  document.querySelectorAll('details.group').forEach((group) => group.addEventListener('toggle', apply));
  document.querySelectorAll('.controls input').forEach((input) => input.addEventListener('input', apply));
  document.getElementById('pairs').addEventListener('click', (event) => {
    const thumb = event.target.closest('img.thumb');
    if (!thumb) return;
    box.querySelector('img').src = data.full[thumb.dataset.full] || thumb.src;
    box.hidden = false;
  });
  box.addEventListener('click', () => { box.hidden = true; });
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') box.hidden = true; });
  for (const table of document.querySelectorAll('table.sortable')) {
    table.querySelectorAll('thead th').forEach((th, column) => th.addEventListener('click', () => {
      const body = table.tBodies[0];
      const ascending = th.dataset.order !== 'asc';
      table.querySelectorAll('thead th').forEach((other) => delete other.dataset.order);
      th.dataset.order = ascending ? 'asc' : 'desc';
      const key = (row) => row.cells[column].dataset.sort;
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        const order = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return ascending ? order : -order;
      });
      body.append(...rows);
    }));
  }
  apply();
})();
"""
