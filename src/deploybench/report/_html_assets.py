"""Static CSS and JavaScript of the HTML report (no data in here: data travels as escaped JSON)."""

CSS = """
:root { --fg: #1d232b; --muted: #5b6570; --line: #d9dee3; --ok: #e6f4ea; --best: #b7e1c1; --bad: #fdecea; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1400px; padding: 0 24px 48px; }
header { border-bottom: 2px solid var(--line); padding: 16px 0 8px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 4px; }
nav a { margin-right: 14px; } .muted, figcaption, .facts { color: var(--muted); }
.facts { margin: 0; padding-left: 18px; }
.rule { background: #f4f6f8; border-left: 3px solid #1f77b4; padding: 6px 10px; margin: 6px 0; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f4f6f8; position: sticky; top: 0; white-space: normal; vertical-align: bottom; }
td.text, th.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
#slo-table tr.misses { color: #9aa3ab; }
#slo-table tr.meets { background: var(--ok); }
#slo-table tr.best { background: var(--best); font-weight: 600; }
#slo-form { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: end; background: #f4f6f8;
            padding: 10px 12px; border-radius: 4px; }
#slo-form label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
#slo-form input[type=number] { width: 110px; padding: 3px 5px; font-size: 14px; }
#slo-answer { font-size: 15px; font-weight: 600; background: var(--best); padding: 8px 12px; border-radius: 4px; }
#slo-answer.none { background: #fff4d6; }
#js-errors { background: var(--bad); color: #a50e0e; padding: 8px; white-space: pre-wrap; }
figure { margin: 18px 0 28px; } figure .chart { min-height: 460px; }
.note { color: var(--muted); font-style: italic; }
h1, .facts, .note, #caveats, .card-dep, .card-margin, #slo-answer { overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 2px 0; }
#caveats { margin: 10px 0 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr)); gap: 10px; }
.pick-card { border: 1px solid var(--line); border-left: 4px solid #1f77b4; border-radius: 4px; padding: 8px 10px;
             background: #fff; min-width: 0; }
.pick-card.tie { border-left-color: #e0a800; } .pick-card.none { border-left-color: #9aa3ab; }
.card-head { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.card-dep { font-weight: 600; } .card-fig { font-size: 18px; line-height: 1.3; } .card-iv { font-size: 13px; color: var(--muted); }
.card-margin { font-size: 12px; color: var(--muted); }
#notes { margin: 16px 0; } #notes summary { cursor: pointer; font-weight: 600; }
figure { max-width: 100%; } figure .chart { width: 100%; }
@media (max-width: 600px) { body { padding: 0 10px 32px; } #slo-form input[type=number] { width: 90px; } }
"""

# First script on the page: every later error lands in window.__reportErrors and in #js-errors.
ERROR_CATCHER = """
window.__reportErrors = [];
window.__noteError = function (msg) {
  window.__reportErrors.push(String(msg));
  var el = document.getElementById('js-errors');
  if (el) { el.hidden = false; el.textContent = 'This page hit a script error:\\n' + window.__reportErrors.join('\\n'); }
};
window.addEventListener('error', function (e) {
  window.__noteError((e.message || 'error') + (e.filename ? ' at ' + e.filename + ':' + e.lineno : ''));
});
window.addEventListener('unhandledrejection', function (e) { window.__noteError('unhandled rejection: ' + e.reason); });
document.addEventListener('securitypolicyviolation', function (e) {
  window.__noteError('blocked by the page policy: ' + e.violatedDirective + ' ' + (e.blockedURI || ''));
});
"""

# A link to a note (the line of caveats) opens the folded Notes section first.
OPEN_NOTES = """
(function () {
  function open() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    var box = document.getElementById('notes');
    if (el && box && box.contains(el)) { box.open = true; el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', open);
  open();
})();
"""

RENDER_CHARTS = """
(function () {
  var figs = JSON.parse(document.getElementById('chart-data').textContent);
  var config = {displaylogo: false, responsive: true};
  var done = Object.keys(figs).map(function (id) {
    try {
      return Plotly.newPlot(id, figs[id].data, figs[id].layout, config)
        .catch(function (e) { window.__noteError('chart ' + id + ': ' + e); });
    } catch (e) { window.__noteError('chart ' + id + ': ' + e); return null; }
  });
  Promise.all(done).then(function () { document.body.setAttribute('data-charts-rendered', String(done.length)); });
})();
"""

SLO_FILTER = """
(function () {
  var data = JSON.parse(document.getElementById('slo-data').textContent);
  var form = document.getElementById('slo-form');
  var answer = document.getElementById('slo-answer');
  var rows = document.querySelectorAll('#slo-table tbody tr');
  function limits() {
    var out = [];
    data.fields.forEach(function (f) {
      var text = document.getElementById('slo-' + f.key).value.trim();
      var value = parseFloat(text);
      if (text !== '' && !isNaN(value)) out.push({key: f.key, short: f.short, unit: f.unit, text: text, value: value});
    });
    return out;
  }
  function meets(c, lim, model) {
    if (model && c.model !== model) return false;
    return lim.every(function (l) { var v = c.values[l.key]; return v !== null && v <= l.value; });
  }
  function describe(best, lim, model) {  // keep in step with deploybench.report.slo.answer
    var conds = lim.map(function (l) { return l.short + ' \\u2264 ' + l.text + l.unit; }).join(', ') || 'no limit set';
    var scope = model ? ' among ' + model : '';
    if (!best) {
      var missing = lim.map(function (l) {
        var n = data.cells.filter(function (c) { return c.values[l.key] === null; }).length;
        return n ? ' ' + n + ' of ' + data.cells.length + ' cells have no ' + l.short + ' figure.' : '';
      }).join('');
      return data.none + ' ' + conds + scope + '.' + missing + ' Loosen a limit, or measure more deployments.';
    }
    return data.lead + ' ' + conds + scope + ': ' + best.name + ' at ' + best.concurrency +
      ' concurrent requests \\u2014 ' + best.headline + ' (' + best.detail + ').';
  }
  function update() {
    var lim = limits(), model = document.getElementById('slo-model').value;
    var hide = document.getElementById('slo-hide').checked, best = -1;
    data.cells.forEach(function (c, i) {
      var ok = meets(c, lim, model), row = rows[i];
      row.classList.toggle('meets', ok); row.classList.toggle('misses', !ok); row.classList.remove('best');
      row.hidden = hide && !ok;
      if (ok && best < 0 && c.eligible) best = i;
    });
    if (best >= 0) rows[best].classList.add('best');
    answer.textContent = describe(best >= 0 ? data.cells[best] : null, lim, model);
    answer.setAttribute('data-run-id', best >= 0 ? data.cells[best].run_id : '');
    answer.className = best >= 0 ? 'found' : 'none';
  }
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  form.addEventListener('submit', function (e) { e.preventDefault(); update(); });
  update();
})();
"""
