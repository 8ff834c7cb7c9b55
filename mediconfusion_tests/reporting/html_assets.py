"""The CSS and JavaScript embedded in report.html (no network, no build step)."""

from __future__ import annotations

STYLE = """
:root { --fg: #1d2329; --muted: #5b6670; --line: #d9dee3; --bg: #f6f7f9; --card: #fff;
  --pass: #1f7a3f; --fail: #b3261e; --warn: #9a6700; --set: #2f6fb3; --conf: #c05621; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
header.top, section { max-width: 1180px; margin: 0 auto; padding: 14px 20px; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 17px; margin: 6px 0 10px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; color: var(--muted); }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.note { background: #fff4d6; border-left: 4px solid var(--warn); padding: 6px 10px; }
.verdict { border-left: 6px solid; background: var(--card); }
.verdict.pass { border-color: var(--pass); } .verdict.fail { border-color: var(--fail); }
.verdict li.pass::marker { content: "✔ "; color: var(--pass); } .verdict li.fail::marker { content: "✘ "; color: var(--fail); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tile .label { color: var(--muted); } .tile .value { font-size: 26px; font-weight: 700; }
.tile .ci, .tile .hint, .reference, .legend { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; max-width: 720px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
svg .grid { stroke: var(--line); } svg .tick { font-size: 10px; fill: var(--muted); text-anchor: middle; }
svg .cat { font-size: 12px; text-anchor: end; fill: var(--fg); }
svg .bar.set { fill: var(--set); } svg .bar.conf { fill: var(--conf); }
svg .whisker { stroke: #111; stroke-width: 1.5; } svg .ref { stroke-dasharray: 4 3; stroke-width: 1.2; }
svg .ref.set { stroke: var(--set); } svg .ref.conf { stroke: var(--conf); }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
.swatch.set { background: var(--set); } .swatch.conf { background: var(--conf); }
table.paper { border-collapse: collapse; background: var(--card); margin-top: 12px; }
table.paper th, table.paper td { border: 1px solid var(--line); padding: 4px 10px; text-align: right; }
table.paper th:first-child, table.paper td:first-child { text-align: left; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.controls fieldset { border: 1px solid var(--line); border-radius: 6px; background: var(--card); }
.controls label { margin-right: 10px; white-space: nowrap; } #search { width: 240px; }
#counter { color: var(--muted); width: 100%; margin: 4px 0; }
article.pair { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--fail);
  border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
article.pair.passed { border-left-color: var(--pass); } article.pair.invalid { border-left-color: var(--warn); }
article.pair.skipped { border-left-color: var(--muted); }
article.pair header { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.pid { font-weight: 700; margin-right: 6px; }
.badge { border-radius: 10px; padding: 1px 8px; font-size: 12px; background: #eef1f4; }
.badge.class { color: #fff; background: var(--fail); } .badge.class.passed { background: var(--pass); }
.badge.class.invalid { background: var(--warn); } .badge.class.skipped { background: var(--muted); }
.failure { color: var(--fail); margin: 6px 0; } .question { font-weight: 600; margin: 6px 0 2px; }
.options { margin: 0 0 8px; }
.images { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
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
  const cards = Array.from(document.querySelectorAll('article.pair'));
  const search = document.getElementById('search');
  const passing = document.getElementById('show-passing');
  const counter = document.getElementById('counter');
  const full = JSON.parse(document.getElementById('full-images').textContent);
  const checked = (name) => new Set(Array.from(document.querySelectorAll('input[name="' + name + '"]:checked'),
                                               (box) => box.value));
  function apply() {
    const cats = checked('cat'), classes = checked('cls'), query = search.value.trim().toLowerCase();
    let shown = 0;
    for (const card of cards) {
      const kind = card.dataset.class;
      let visible = kind === 'passed' ? passing.checked : classes.has(kind);
      visible = visible && card.dataset.categories.split('|').some((c) => cats.has(c));
      visible = visible && (!query || card.dataset.search.includes(query));
      card.hidden = !visible;
      if (visible) shown += 1;
    }
    counter.textContent = 'Showing ' + shown + ' of ' + cards.length + ' pairs';
  }
  document.querySelectorAll('.controls input').forEach((input) => input.addEventListener('input', apply));
  const box = document.getElementById('lightbox');
  document.getElementById('cards').addEventListener('click', (event) => {
    const thumb = event.target.closest('img.thumb');
    if (!thumb) return;
    box.querySelector('img').src = full[thumb.dataset.full] || thumb.src;
    box.hidden = false;
  });
  box.addEventListener('click', () => { box.hidden = true; });
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') box.hidden = true; });
  apply();
})();
"""
