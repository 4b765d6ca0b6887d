"""The inline stylesheet and script of the HTML report (no network, no external files)."""

from __future__ import annotations

from typing import Final

# The report never loads anything: scripts and styles are inline, everything else is off.
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

CSS: Final = """
:root { --fail:#b3261e; --warn:#8a5a00; --info:#006a80; --ok:#1b6e20; --line:#d9dce1;
        --client:#eef4ff; --server:#f7f7f9; --mark:#fff4ce; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1d1f23; background: #fff; }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: #fafbfc; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
main { padding: 0 24px 40px; }
section.case { border-top: 2px solid var(--line); padding-top: 16px; margin-top: 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
table.cases { width: auto; margin-top: 10px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 700; color: #fff; }
.v-OK { background: var(--ok); } .v-FAILED { background: var(--fail); }
.v-NON-STRICT { background: var(--warn); } .v-INFORMATIONAL { background: var(--info); }
.v-NOT-JUDGED { background: #6b6f76; }
.meta { color: #555; margin: 2px 0; }
code, pre, .mono { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 4px 0; white-space: pre-wrap; word-break: break-all; }
ol.violations { padding-left: 22px; }
ol.violations li { margin: 0 0 10px; }
ol.violations .sev { font-weight: 700; }
.sev-FAILED { color: var(--fail); } .sev-NON-STRICT { color: var(--warn); }
.sev-INFORMATIONAL { color: var(--info); }
.parts { margin: 2px 0 0; color: #333; }
.parts b { display: inline-block; min-width: 72px; color: #555; font-weight: 600; }
table.frames { table-layout: fixed; }
table.frames th:nth-child(1) { width: 52px; } table.frames th:nth-child(2) { width: 84px; }
table.frames th:nth-child(3) { width: 32px; } table.frames th:nth-child(4) { width: 300px; }
table.frames td { overflow: hidden; }
table.frames td.n, table.frames td.t { color: #666; white-space: nowrap; text-align: right; }
table.frames td.dir { font-size: 16px; text-align: center; width: 28px; }
tr.client td { background: var(--client); } tr.server td { background: var(--server); }
tr.end td { background: #fde7e4; font-weight: 600; }
tr:target td, tr.flagged td { background: var(--mark); }
tr:target td { box-shadow: inset 0 2px 0 #e0a800, inset 0 -2px 0 #e0a800; }
td.type { font-weight: 600; overflow-wrap: anywhere; }
details summary { cursor: pointer; color: #333; overflow: hidden; text-overflow: ellipsis;
                  white-space: nowrap; }
.finding { margin-top: 4px; font-weight: 600; }
.finding a { text-decoration: none; }
.toolbar { margin-top: 10px; display: flex; gap: 14px; align-items: center; }
body.hide-audio tr.audio { display: none; }
.note { color: #666; font-style: italic; }
"""

JS: Final = """
(function () {
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var row = id && document.getElementById(id);
    if (row && row.querySelector) {
      var d = row.querySelector('details');
      if (d) { d.open = true; }
    }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  var expand = document.getElementById('expand-all');
  if (expand) {
    expand.addEventListener('click', function () {
      var all = document.querySelectorAll('table.frames details');
      var open = expand.getAttribute('data-open') !== '1';
      for (var i = 0; i < all.length; i++) { all[i].open = open; }
      expand.setAttribute('data-open', open ? '1' : '0');
      expand.textContent = open ? 'Collapse all JSON' : 'Expand all JSON';
    });
  }
  var audio = document.getElementById('hide-audio');
  if (audio) {
    audio.addEventListener('change', function () {
      document.body.classList.toggle('hide-audio', audio.checked);
    });
  }
})();
"""
