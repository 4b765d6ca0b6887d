"""A self-contained HTML report: one file, inline CSS and JS, nothing loaded from anywhere.

Per case it shows the verdicts, the findings (each linking to the frame that caused it),
then every connection's frames in order (time, direction arrow, event type, collapsible
JSON with long strings such as base64 audio cut), the close, and the client's output.
Frames are untrusted input: every value is HTML-escaped and keys are masked.

Bounded: a connection shows its first `HEAD_FRAMES` and last `TAIL_FRAMES` frames (and
the frames findings point at), with a line saying how many were left out and which
transcript file holds them all; a flooding client cannot make a report of GBs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any, Final

from conformance.checks import Violation
from conformance.transcript import Record, Transcript
from conformance.verdicts import CLOSE_LEGEND, CaseResult, Verdict, summarize

from ._display import (
    connection_label,
    leg_name,
    legs,
    output_cut,
    shorten,
    shorten_text,
    tail,
    truncation_lines,
)
from ._html_assets import CSP, CSS, JS

_AUDIO: Final = frozenset({"input_audio_buffer.append", "response.output_audio.delta"})
_PREVIEW: Final = 140
HEAD_FRAMES: Final = 2000  # frames shown from the start of a connection
TAIL_FRAMES: Final = 500  # and from its end
FLAGGED_FRAMES: Final = 500  # frames findings point at, shown from the middle too
_Flags = dict[tuple[int, int], list[tuple[int, Violation]]]


def e(value: object) -> str:
    """HTML-escaped text of `value` (quotes too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


def html_report(
    results: Sequence[CaseResult], *, title: str = "Realtime conformance report"
) -> str:
    """The whole report as one HTML document."""
    body = [_header(results, title)]
    body += [_case(number, result) for number, result in enumerate(results)]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + body[0]
        + "<main>\n"
        + "\n".join(body[1:])
        + f"\n</main>\n<script>{JS}</script>\n</body></html>\n"
    )


def write_html(results: Sequence[CaseResult], path: str | Path) -> Path:
    """Write `html_report(results)` to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html_report(results), encoding="utf-8")
    return target


def _badge(verdict: Verdict, prefix: str = "") -> str:
    css = str(verdict).replace(" ", "-")
    return f'<span class="badge v-{e(css)}">{e(prefix)}{e(verdict)}</span>'


def _header(results: Sequence[CaseResult], title: str) -> str:
    rows = "".join(
        f'<tr><td><a href="#case-{n}">{e(r.case_id)}</a></td><td>{_badge(r.verdict)}</td>'
        f"<td>{_badge(r.close_verdict)}</td><td>{len(r.violations)}</td></tr>"
        for n, r in enumerate(results)
    )
    return (
        f'<header><h1>{e(title)}</h1><p class="summary">{e(summarize(results).line())}</p>'
        '<table class="cases"><thead><tr><th>Case</th><th>Verdict</th>'
        f'<th title="{e(CLOSE_LEGEND)}">Close</th>'
        f"<th>Violations</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<p class="meta">{e(CLOSE_LEGEND)}</p>'
        '<div class="toolbar"><button id="expand-all" type="button">Expand all JSON</button>'
        '<label><input id="hide-audio" type="checkbox"> hide audio frames</label></div>'
        "</header>\n"
    )


def _case(number: int, result: CaseResult) -> str:
    flags: _Flags = defaultdict(list)
    for k, violation in enumerate(result.violations):
        if violation.index is not None:
            flags[(violation.connection, violation.index)].append((k, violation))
    parts = [
        f'<section class="case" id="case-{number}">',
        f"<h2>{e(result.case_id)} {_badge(result.verdict)} "
        f"{_badge(result.close_verdict, 'close: ')}"
        + "".join(f" {_badge(v, f'{leg} leg: ')}" for leg, v in (legs(result) or {}).items())
        + "</h2>",
        _facts(result),
        _violations(number, result),
    ]
    for connection, transcript in enumerate(result.transcripts):
        paths = result.transcript_paths
        path = paths[connection] if connection < len(paths) else None
        parts.append(_connection(number, connection, transcript, flags, path))
    parts.append(_output(number, result))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _facts(result: CaseResult) -> str:
    facts = [f"scenario: {result.scenario or '—'}", f"connections: {len(result.transcripts)}"]
    if result.duration_s is not None:
        facts.append(f"duration: {result.duration_s:.2f} s")
    lines = [" · ".join(facts)]
    lines += [f"transcript: {path}" for path in result.transcript_paths]
    if result.checks_skipped:
        lines.append("not run without a client run: " + ", ".join(result.checks_skipped))
    if result.unjudged:
        lines.append("expectations no check judged: " + ", ".join(result.unjudged))
    if result.verdict is Verdict.NOT_JUDGED:
        lines.append(f"NOT JUDGED: {result.not_judged_reason}")
    lines += truncation_lines(result)
    return "".join(f'<p class="meta">{e(line)}</p>' for line in lines)


def _target(number: int, violation: Violation) -> tuple[str, str]:
    if violation.index is not None:
        anchor = f"c{number}-n{violation.connection}-f{violation.index}"
        return anchor, f"connection {violation.connection}, frame #{violation.index}"
    if violation.json_path in ("stdout", "stderr"):
        return f"c{number}-output", f"client {violation.json_path}"
    return f"c{number}-n{violation.connection}", f"connection {violation.connection}"


def _violations(number: int, result: CaseResult) -> str:
    if not result.violations:
        return '<p class="note">No violations.</p>'
    items = []
    for k, v in enumerate(result.violations):
        anchor, label = _target(number, v)
        more = f" (×{v.occurrences})" if v.occurrences > 1 else ""
        path = f" <code>{e(v.json_path)}</code>" if v.json_path else ""
        leg = leg_name(result, v)
        where = f"{leg} leg: " if leg else ""
        items.append(
            f'<li id="c{number}-v{k}"><span class="sev sev-{e(v.severity)}">{e(v.severity)}</span>'
            f" {e(where)}<b>{e(v.check)}</b>: {e(v.title)}{e(more)} — "
            f'<a href="#{e(anchor)}">{e(label)}</a>{path}'
            f'<div class="parts"><b>Expected</b> {e(v.expected)}</div>'
            f'<div class="parts"><b>Received</b> {e(v.received)}</div>'
            f'<div class="parts"><b>Fix</b> {e(v.hint or "")}</div></li>'
        )
    return f'<h3>Findings</h3><ol class="violations">{"".join(items)}</ol>'


def _connection(
    number: int, connection: int, transcript: Transcript, flags: _Flags, path: str | None
) -> str:
    meta = transcript.meta
    query = "&".join(f"{k}={v}" for k, v in (meta.get("query") or {}).items())
    where = f"{meta.get('path') or ''}{'?' + query if query else ''}"
    heading = (
        f"Connection {connection}{connection_label(meta)}: {where} · "
        f"started {meta.get('started_at') or '?'}"
    )
    rows: list[str] = []
    for shown in _shown(transcript.records, {i for c, i in flags if c == connection}):
        if isinstance(shown, Record):
            found = flags.get((connection, shown.index), [])
            rows.append(_row(number, connection, shown, transcript, found))
        else:
            rows.append(_gap(*shown, path))
    return (
        f'<h3 id="c{number}-n{connection}">{e(heading)}</h3>'
        '<table class="frames"><thead><tr><th>#</th><th>t (ms)</th><th></th><th>event</th>'
        f"<th>content</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _shown(records: list[Record], flagged: set[int]) -> list[Record | tuple[int, int]]:
    """The records a connection shows, in order, with `(first, last)` index ranges of the
    ones left out: the first `HEAD_FRAMES`, the last `TAIL_FRAMES`, and up to
    `FLAGGED_FRAMES` a finding points at."""
    if len(records) <= HEAD_FRAMES + TAIL_FRAMES:
        return list(records)
    end = len(records) - TAIL_FRAMES
    middle = sorted(i for i in flagged if HEAD_FRAMES <= i < end)[:FLAGGED_FRAMES]
    shown: list[Record | tuple[int, int]] = list(records[:HEAD_FRAMES])
    at = HEAD_FRAMES
    for index in [*middle, end]:
        if index > at:
            shown.append((at, index - 1))
        if index < end:
            shown.append(records[index])
        at = index + 1
    shown += records[end:]
    return shown


def _gap(first: int, last: int, path: str | None) -> str:
    where = f"; every frame is in {path}" if path else ""
    text = f"… frames #{first} to #{last} ({last - first + 1:,}) not shown here{where}"
    return f'<tr class="gap"><td colspan="5" class="mono">{e(text)}</td></tr>'


def _row(
    number: int,
    connection: int,
    record: Record,
    transcript: Transcript,
    found: list[tuple[int, Violation]],
) -> str:
    kind = record.event_type or record.kind
    if record.kind == "elided":
        kind = f"{record.elided_type or 'frames'} (elided)"
    classes: list[str] = [record.direction]
    if record.kind in ("close", "drop", "rejected"):
        classes.append("end")
    if found:
        classes.append("flagged")
    elif kind in _AUDIO:
        classes.append("audio")
    arrow, tip = (
        ("→", "client to server") if record.direction == "client" else ("←", "server to client")
    )
    notes = "".join(
        f'<div class="finding sev-{e(v.severity)}"><a href="#c{number}-v{k}">⚠ {e(v.check)}: '
        f"{e(v.title)}</a></div>"
        for k, v in found
    )
    return (
        f'<tr id="c{number}-n{connection}-f{record.index}" class="{" ".join(classes)}">'
        f'<td class="n">{record.index}</td><td class="t">{record.t_ms:.1f}</td>'
        f'<td class="dir" title="{tip}">{arrow}</td><td class="type">{e(kind)}</td>'
        f"<td>{_content(record, transcript)}{notes}</td></tr>"
    )


def _content(record: Record, transcript: Transcript) -> str:
    if record.kind == "close":
        return f'<span class="mono">close {e(record.code)} {e(repr(record.reason or ""))}</span>'
    if record.kind == "drop":
        return '<span class="mono">connection dropped without a close frame (1006)</span>'
    if record.kind == "rejected":
        return f'<span class="mono">HTTP {e(record.code)} on the upgrade: no WebSocket</span>'
    if record.kind == "binary":
        size = len(record.data_b64 or "") * 3 // 4
        return f'<span class="mono">binary frame, about {size:,} bytes</span>'
    if record.kind == "elided":
        until = f" to {record.t_last_ms:.1f} ms" if record.t_last_ms is not None else ""
        return (
            f'<span class="mono">{record.frames:,} frame(s), {record.size or 0:,} characters '
            f"in all{e(until)}: past the transcript's size limit, not kept</span>"
        )
    text = transcript.redact(record.text or "")
    event = record.event
    if event is None:
        return f"<pre>{e(shorten_text(text))}</pre>"
    shown: Any = shorten(_redacted(event, transcript))
    preview = shorten_text(json.dumps(shown, ensure_ascii=False), _PREVIEW)
    pretty = json.dumps(shown, ensure_ascii=False, indent=2)
    return f"<details><summary>{e(preview)}</summary><pre>{e(pretty)}</pre></details>"


def _redacted(value: Any, transcript: Transcript) -> Any:
    if isinstance(value, str):
        return transcript.redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, transcript) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, transcript) for v in value]
    return value


def _output(number: int, result: CaseResult) -> str:
    outcome = result.outcome
    if outcome is None:
        return ""
    status = "killed (time limit)" if outcome.timed_out else f"exit status {outcome.exit_code}"
    parts = [
        f'<h3 id="c{number}-output">Client output · {e(status)} · {outcome.duration_s:.2f} s</h3>'
    ]
    for name, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        shown = tail(text, outcome.secrets) if text else "(empty)"
        cut = output_cut(text)
        note = f" · {cut.line(name)}" if cut is not None else ""
        parts.append(f'<p class="meta">{name}{e(note)}</p><pre>{e(shown)}</pre>')
    return "".join(parts)
