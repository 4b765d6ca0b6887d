"""The divergence ledger: load and check fixtures/fidelity.yaml, render docs/fidelity.md.

    .venv/bin/python -m scripts.fidelity           # rewrite docs/fidelity.md from the data
    .venv/bin/python -m scripts.fidelity --check   # exit 1 if the doc or the data is wrong

The entry format is documented at the top of fixtures/fidelity.yaml;
tests/test_fidelity_ledger.py runs the same checks.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.diff import matcher_problems

ROOT = Path(__file__).resolve().parents[1]
LEDGER = ROOT / "fixtures" / "fidelity.yaml"
DOC = ROOT / "docs" / "fidelity.md"
ERRATA = ROOT / "fixtures" / "schemas" / "errata.yaml"

AREAS = (
    "handshake", "session", "conversation", "response", "audio", "transcription", "vad",
    "tools", "errors", "timing", "translation", "rest", "ids", "usage",
)  # fmt: skip
STATUSES = ("divergence", "inferred", "fixed")
EVIDENCE_KINDS = ("live-capture", "spec", "sdk", "issue", "doc", "inference")
REQUIRED = ("id", "area", "mock", "live", "evidence", "status", "test")
OPTIONAL = ("issue", "errata", "diff")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def load(path: Path = LEDGER) -> list[dict[str, Any]]:
    """The ledger's entries, as written (no validation: see `problems`)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, Mapping) or data.get("version") != 1:
        raise ValueError(f"{path}: expected a mapping with version: 1")
    entries = data.get("entries") or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: entries must be a list")
    return entries


def names_a_test(reference: str, root: Path = ROOT) -> bool:
    """Whether `path::name` (or `path::Class::name`) names a test function in a file."""
    path, _, qualified = reference.partition("::")
    file = root / path
    if not qualified or not file.is_file():
        return False
    scope: Sequence[ast.stmt] = _module_body(file)
    *classes, name = qualified.split("::")
    for class_name in classes:
        found = [n for n in scope if isinstance(n, ast.ClassDef) and n.name == class_name]
        if not found:
            return False
        scope = found[0].body
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return any(isinstance(n, functions) and n.name == name for n in scope)


@functools.lru_cache(maxsize=256)
def _module_body(file: Path) -> list[ast.stmt]:
    return ast.parse(file.read_text()).body


def problems(entries: list[dict[str, Any]], root: Path = ROOT) -> list[str]:
    """Everything wrong with the entries: shape, values, duplicates, missing tests."""
    found: list[str] = []
    errata_ids = {e.get("id") for e in (yaml.safe_load(ERRATA.read_text()).get("errata") or [])}
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            found.append(f"entry {number}: not a mapping")
            continue
        name = str(entry.get("id", f"entry {number}"))
        where = f"{name}:"
        missing = [k for k in REQUIRED if k not in entry]
        unknown = [k for k in entry if k not in REQUIRED and k not in OPTIONAL]
        if missing:
            found.append(f"{where} missing {', '.join(missing)}")
        if unknown:
            found.append(f"{where} unknown key(s) {', '.join(map(str, unknown))}")
        if not _ID.match(name):
            found.append(f"{where} the id must be kebab-case")
        if name in seen:
            found.append(f"{where} duplicate id")
        seen.add(name)
        if entry.get("area") not in AREAS:
            found.append(f"{where} area {entry.get('area')!r} is not one of {', '.join(AREAS)}")
        status = entry.get("status")
        if status not in STATUSES:
            found.append(f"{where} status {status!r} is not one of {', '.join(STATUSES)}")
        for key in ("mock", "live"):
            if not isinstance(entry.get(key), str) or not entry.get(key, "").strip():
                found.append(f"{where} {key} must be a non-empty text")
        evidence = entry.get("evidence")
        if not isinstance(evidence, list) or not evidence:
            found.append(f"{where} evidence must be a non-empty list")
        else:
            for item in evidence:
                if not isinstance(item, Mapping) or set(item) != {"kind", "source"}:
                    found.append(f"{where} evidence items are {{kind, source}}: {item!r}")
                elif item["kind"] not in EVIDENCE_KINDS:
                    found.append(f"{where} evidence kind {item['kind']!r} is unknown")
        test = entry.get("test")
        if test is None:
            if status != "divergence" or not entry.get("issue"):
                found.append(f"{where} test may be null only for an open divergence with an issue")
        elif not isinstance(test, str) or not names_a_test(test, root):
            found.append(f"{where} test {test!r} does not exist")
        erratum = entry.get("errata")
        if erratum is not None and erratum not in errata_ids:
            found.append(f"{where} errata {erratum!r} is not an id in errata.yaml")
        if "diff" in entry:
            found += [f"{where} {problem}" for problem in matcher_problems(entry["diff"])]
    return found


def render(entries: list[dict[str, Any]]) -> str:
    """docs/fidelity.md, generated from the entries."""
    count = {s: sum(1 for e in entries if e.get("status") == s) for s in STATUSES}
    unpinned = sum(1 for e in entries if e.get("test") is None)
    lines = [
        "# Fidelity: where the mock differs from the live server",
        "",
        "<!-- Generated from fixtures/fidelity.yaml by `python -m scripts.fidelity`;"
        " edit the YAML, not this file. -->",
        "",
        "Every known difference between the mock and the live GA server that remains",
        "(**divergence**), every mock behaviour whose live form is inferred rather than",
        "observed (**inferred**), and former divergences kept for the record (**fixed**).",
        "Each entry says what the mock does, what live does, the evidence, and the test that",
        "pins the mock's side. Tools that compare a mock transcript with a live capture read",
        "the same data from `fixtures/fidelity.yaml` (format at its top): the `diff`",
        "subcommand lists a difference an entry's matchers describe as known (docs/diff.md);",
        "`tests/test_fidelity_ledger.py` fails when this page and the data disagree or an",
        "entry's test does not exist.",
        "",
        f"{len(entries)} entries: {count['divergence']} divergences, {count['inferred']} "
        f"inferred, {count['fixed']} fixed"
        + (f"; {unpinned} open divergences not pinned by a test yet." if unpinned else "."),
        "",
        "| id | area | status | pinned by |",
        "|---|---|---|---|",
    ]
    ordered = sorted(
        entries, key=lambda e: AREAS.index(e["area"]) if e.get("area") in AREAS else 99
    )
    for entry in ordered:
        lines.append(
            f"| [`{entry['id']}`](#{entry['id']}) | {entry['area']} | {entry['status']} "
            f"| {_test_cell(entry)} |"
        )
    area = None
    for entry in ordered:
        if entry["area"] != area:
            area = entry["area"]
            lines += ["", f"## {area}"]
        evidence = "; ".join(f"{e['kind']}: {_one_line(e['source'])}" for e in entry["evidence"])
        extra = []
        if entry.get("issue"):
            extra.append(f"issue {entry['issue']}")
        if entry.get("errata"):
            extra.append(f"errata `{entry['errata']}`")
        lines += [
            "",
            f"### {entry['id']}",
            "",
            f"*{entry['status']}*" + (f" ({', '.join(extra)})" if extra else ""),
            "",
            f"- **Mock:** {_one_line(entry['mock'])}",
            f"- **Live:** {_one_line(entry['live'])}",
            f"- **Evidence:** {evidence}",
            f"- **Pinned by:** {_test_cell(entry)}",
        ]
        if entry.get("diff"):
            lines.append(f"- **Known to `diff` as:** {_matchers_cell(entry['diff'])}")
    return "\n".join(lines) + "\n"


def _test_cell(entry: Mapping[str, Any]) -> str:
    test = entry.get("test")
    if test is None:
        return f"not yet (issue {entry.get('issue')})"
    return f"`{test}`"


EMPTY = '""'


def _matchers_cell(value: object) -> str:
    """The `diff:` matchers as inline code, `; `-separated (`kind=missing event=x field=""`)."""
    items = value if isinstance(value, list) else [value]
    shown = []
    for item in items:
        parts = []
        for key, part in item.items() if isinstance(item, Mapping) else ():
            text = ",".join(map(str, part)) if isinstance(part, list) else str(part)
            parts.append(f"{key}={text or EMPTY}")
        shown.append("`" + " ".join(parts) + "`")
    return "; ".join(shown)


def _one_line(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fidelity", description=__doc__)
    parser.add_argument("--check", action="store_true", help="check only; write nothing")
    args = parser.parse_args(argv)
    entries = load()
    wrong = problems(entries)
    for problem in wrong:
        print(f"fixtures/fidelity.yaml: {problem}", file=sys.stderr)
    text = render(entries) if not wrong else None
    if args.check:
        stale = text is not None and (not DOC.is_file() or DOC.read_text() != text)
        if stale:
            print("docs/fidelity.md is stale: run python -m scripts.fidelity", file=sys.stderr)
        return 1 if wrong or stale else 0
    if text is None:
        return 1
    DOC.write_text(text)
    print(f"wrote {DOC} ({len(entries)} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
