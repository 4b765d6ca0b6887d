"""Compare two transcripts of the same client traffic (see `conformance.diff`)."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from conformance.diff._known import Known, load_known
from conformance.diff._shape import compare as compare_shapes
from conformance.diff._steps import CONNECT, Entry, Step, Steps, steps_of
from conformance.transcript import Transcript, read_jsonl

Kind = Literal["missing", "extra", "type", "value", "code", "order", "count", "handshake", "client"]
LiveSide = Literal["a", "b", "auto", "none"]
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """One way B differs from A.

    `kind`: `missing` (only in A), `extra` (only in B), `type` (JSON types differ),
    `value` (an enum field: `type`, `status`, `role`…), `code` (an error code, a close
    code, the HTTP status of a refused upgrade), `order` (an event came elsewhere among
    the answer to the same client frame), `count` (frames in a stream, `--strict-counts`
    only), `handshake` (one side refused the upgrade, the other accepted it), `client`
    (the client traffic itself differs: not the same traffic).
    `event` is the event type (or `close(server)`, `drop(client)`, `rejected`…), `field`
    the dotted path inside it ("" for the whole event), `a`/`b` what each side shows,
    `step` the step number (0: before the client's first frame) and `client` the client
    event that step follows, `a_index`/`b_index` the record indexes in each file, `known`
    the ledger id when the divergence ledger lists it.
    """

    kind: Kind
    event: str
    field: str = ""
    a: str | None = None
    b: str | None = None
    step: int = 0
    client: str = CONNECT
    a_index: int | None = None
    b_index: int | None = None
    known: str | None = None

    @property
    def message(self) -> str:
        """One line saying what differs, in A/B terms."""
        what = f"`{self.event}`" + (f" field `{self.field}`" if self.field else "")
        if self.kind == "missing":
            seen = f" ({self.a})" if self.a and self.field else ""
            return f"{what} only in A{seen}"
        if self.kind == "extra":
            seen = f" ({self.b})" if self.b and self.field else ""
            return f"{what} only in B{seen}"
        if self.kind == "order":
            return f"{what} in another order: in A after {self.a}, in B after {self.b}"
        if self.kind == "handshake":
            return f"handshake: A {_outcome(self.a)}, B {_outcome(self.b)}"
        if self.kind == "client":
            if self.field or self.a not in (None, "sent") or self.b not in (None, "sent"):
                shown_a, shown_b = self.a or "absent", self.b or "absent"
                return f"client traffic differs: client {what}: A {shown_a}, B {shown_b}"
            side = "A" if self.a is not None else "B"
            return (
                f"client traffic differs: client `{self.event}` only in {side}"
                " (the transcripts are not of the same client traffic)"
            )
        if self.kind == "count":
            return f"{what}: A {self.a} frames, B {self.b}"
        return f"{what}: A {self.a}, B {self.b}"

    @property
    def where(self) -> str:
        """`step N after client X (A#i, B#j)`."""
        count = f"step {self.step}, " + (
            "before the client's first frame"
            if self.client == CONNECT
            else f"after `{self.client}`"
        )
        places = [f"{side}#{index}" for side, index in (("A", self.a_index), ("B", self.b_index))]
        shown = [
            p for p, i in zip(places, (self.a_index, self.b_index), strict=True) if i is not None
        ]
        return count + (f" ({', '.join(shown)})" if shown else "")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`--json`)."""
        return {
            "kind": self.kind,
            "event": self.event,
            "field": self.field,
            "a": self.a,
            "b": self.b,
            "step": self.step,
            "client": self.client,
            "a_index": self.a_index,
            "b_index": self.b_index,
            "known": self.known,
            "message": self.message,
        }


def _outcome(shown: str | None) -> str:
    return "accepted the upgrade" if shown == "accepted" else f"refused it with HTTP {shown}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffResult:
    """What `diff_transcripts` found: new differences first, then known ones."""

    names: tuple[str, str]
    live: Literal["a", "b"] | None
    unknown: list[Difference] = field(default_factory=list)
    known: list[Difference] = field(default_factory=list)
    steps: int = 0
    events: tuple[int, int] = (0, 0)

    @property
    def differences(self) -> list[Difference]:
        """Every difference: the new ones, then the known ones."""
        return [*self.unknown, *self.known]

    @property
    def exit_status(self) -> int:
        """1 when a difference is not in the ledger, else 0."""
        return 1 if self.unknown else 0

    def _label(self, side: Literal["a", "b"]) -> str:
        name = self.names[0 if side == "a" else 1]
        role = "" if self.live is None else " (live)" if self.live == side else " (mock)"
        return f"{name}{role}"

    def to_text(self) -> str:
        """The human report (what `realtime-conformance diff` prints)."""
        lines = [
            f"A = {self._label('a')}",
            f"B = {self._label('b')}",
            f"{self.steps} step(s) compared ({self.events[0]} and {self.events[1]} "
            f"server entries, streams collapsed): {len(self.unknown)} new difference(s), "
            f"{len(self.known)} known (fixtures/fidelity.yaml)",
        ]
        number = 0
        for title, items in (("New", self.unknown), ("Known", self.known)):
            if not items:
                continue
            lines += ["", f"{title}:"]
            for item in items:
                number += 1
                known = f"  [known: {item.known}]" if item.known else ""
                lines.append(f"  {number}. {item.message}{known}")
                lines.append(f"     {item.where}")
        if self.unknown:
            lines += [
                "",
                "A new difference is drift (or a mock bug): fix the mock, or record it in "
                "fixtures/fidelity.yaml with a `diff:` matcher (docs/diff.md).",
            ]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`realtime-conformance diff --json`)."""
        return {
            "a": {"name": self.names[0], "live": self.live == "a"},
            "b": {"name": self.names[1], "live": self.live == "b"},
            "status": self.exit_status,
            "steps": self.steps,
            "server_entries": list(self.events),
            "unknown": [d.as_dict() for d in self.unknown],
            "known": [d.as_dict() for d in self.known],
        }


def is_live(meta: Mapping[str, Any]) -> bool:
    """Whether a transcript was recorded by the proxy in front of a server not on loopback."""
    upstream = meta.get("upstream")
    if meta.get("recorded_by") != "proxy" or not isinstance(upstream, str):
        return False
    host = (urlsplit(upstream).hostname or "").lower()
    if not host or host in _LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _live_side(live: LiveSide, a: Transcript, b: Transcript) -> Literal["a", "b"] | None:
    if live in ("a", "b"):
        return live
    if live == "none":
        return None
    found = (is_live(a.meta), is_live(b.meta))
    if found == (True, False):
        return "a"
    if found == (False, True):
        return "b"
    return None


def diff_files(
    a: str | Path,
    b: str | Path,
    *,
    strict_counts: bool = False,
    live: LiveSide = "auto",
    known: Sequence[Known] | None = None,
) -> DiffResult:
    """Read two transcript files and compare them (see `diff_transcripts`).

    Raises:
        ConfigError: a file cannot be read or is not a transcript (file and line named).
    """
    return diff_transcripts(
        read_jsonl(a),
        read_jsonl(b),
        strict_counts=strict_counts,
        live=live,
        names=(str(a), str(b)),
        known=known,
    )


def diff_transcripts(
    a: Transcript,
    b: Transcript,
    *,
    strict_counts: bool = False,
    live: LiveSide = "auto",
    names: tuple[str, str] = ("A", "B"),
    known: Sequence[Known] | None = None,
) -> DiffResult:
    """Compare two transcripts of the same client traffic.

    Compared: the handshake outcome, event types and their order in the answer to each
    client frame, field sets, JSON types and enum values (recursively, arrays by element
    shape), error and close codes. Normalised: ids, times, generated text and audio, usage
    and rate-limit numbers, the number of frames in a stream (unless `strict_counts`).
    Each difference the ledger's matchers (`known`; default `load_known()`) describe is
    marked with the entry's id; `live` says which side is live ("auto": a proxy recording
    of a server not on loopback) so that the matchers' `missing`/`extra` and `mock`/`live`
    values apply the right way round.
    """
    matchers = load_known() if known is None else known
    side = _live_side(live, a, b)
    cut_a, cut_b = steps_of(a), steps_of(b)
    found = sorted(_differences(cut_a, cut_b, strict_counts), key=_position)
    marked = [_mark(d, matchers, side) for d in found]
    return DiffResult(
        names=names,
        live=side,
        unknown=[d for d in marked if d.known is None],
        known=[d for d in marked if d.known is not None],
        steps=max(len(cut_a.steps), len(cut_b.steps)),
        events=(
            sum(len(s.server) for s in cut_a.steps),
            sum(len(s.server) for s in cut_b.steps),
        ),
    )


def _position(difference: Difference) -> tuple[int, int]:
    """Differences in the order they happened: by step, then by record index."""
    index = difference.a_index if difference.a_index is not None else difference.b_index
    return (difference.step, -1 if index is None else index)


def _mark(difference: Difference, matchers: Sequence[Known], live: str | None) -> Difference:
    if difference.kind == "client":
        return difference
    for matcher in matchers:
        if matcher.matches(
            kind=difference.kind,
            event=difference.event,
            field=difference.field,
            client=difference.client,
            a=difference.a,
            b=difference.b,
            live=live,
        ):
            return _replace(difference, known=matcher.id)
    return difference


def _replace(difference: Difference, **changes: Any) -> Difference:
    values = {name: getattr(difference, name) for name in Difference.__dataclass_fields__}
    values.update(changes)
    return Difference(**values)


# --- the comparison --------------------------------------------------------------------


def _differences(a: Steps, b: Steps, strict_counts: bool) -> Iterator[Difference]:
    if a.rejected is not None or b.rejected is not None:
        yield from _handshake(a, b)
        return
    pairs, leftovers = _pair_steps(a.steps, b.steps)
    yield from leftovers
    pending_a: list[tuple[Step, int, Entry]] = []  # (step pair's A step, position, entry)
    pending_b: list[tuple[Step, int, Entry]] = []
    compared: list[tuple[Step, Entry, Entry]] = []
    for step_a, step_b, server_a, server_b in pairs:
        if step_a.client is not None and step_b.client is not None:
            yield from _client_step(step_a, step_a.client, step_b.client, strict_counts)
        keys_a = [e.key for e in server_a]
        keys_b = [e.key for e in server_b]
        matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
        left_a: list[int] = []
        left_b: list[int] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                compared += [
                    (step_a, server_a[i], server_b[j])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
            else:
                left_a += range(i1, i2)
                left_b += range(j1, j2)
        # The same event elsewhere in the same answer: an order difference.
        for i in list(left_a):
            for j in left_b:
                if server_a[i].key == server_b[j].key:
                    left_a.remove(i)
                    left_b.remove(j)
                    yield Difference(
                        kind="order",
                        event=server_a[i].key,
                        a=_before(server_a, i),
                        b=_before(server_b, j),
                        step=step_a.number,
                        client=step_a.client_key,
                        a_index=server_a[i].index,
                        b_index=server_b[j].index,
                    )
                    compared.append((step_a, server_a[i], server_b[j]))
                    break
        pending_a += [(step_a, n, server_a[i]) for n, i in enumerate(left_a)]
        pending_b += [(step_a, n, server_b[j]) for n, j in enumerate(left_b)]
    # The same event in the answer to another client frame: one side was slower. Matched,
    # not a difference (timing is not compared).
    order = {id(step): n for n, (step, *_rest) in enumerate(pairs)}
    for item_a in list(pending_a):
        candidates = [item for item in pending_b if item[2].key == item_a[2].key]
        if candidates:
            nearest = min(
                candidates, key=lambda item: abs(order[id(item[0])] - order[id(item_a[0])])
            )
            pending_a.remove(item_a)
            pending_b.remove(nearest)
            compared.append((item_a[0], item_a[2], nearest[2]))
    for step, entry_a, entry_b in compared:
        yield from _entry_pair(step, entry_a, entry_b, strict_counts)
    for step, _, entry in pending_a:
        yield _only(step, entry, "missing")
    for step, _, entry in pending_b:
        yield _only(step, entry, "extra")


def _before(entries: list[Entry], position: int) -> str:
    return f"`{entries[position - 1].key}`" if position else "the start of the answer"


def _only(step: Step, entry: Entry, kind: Literal["missing", "extra"]) -> Difference:
    count = f"x{entry.count}" if entry.count > 1 else None
    return Difference(
        kind=kind,
        event=entry.key,
        a=count if kind == "missing" else None,
        b=count if kind == "extra" else None,
        step=step.number,
        client=step.client_key,
        a_index=entry.index if kind == "missing" else None,
        b_index=entry.index if kind == "extra" else None,
    )


def _entry_pair(step: Step, a: Entry, b: Entry, strict_counts: bool) -> Iterator[Difference]:
    def found(kind: Kind, field: str, shown_a: str | None, shown_b: str | None) -> Difference:
        return Difference(
            kind=kind,
            event=a.key,
            field=field,
            a=shown_a,
            b=shown_b,
            step=step.number,
            client=step.client_key,
            a_index=a.index,
            b_index=b.index,
        )

    if strict_counts and a.count != b.count:
        yield found("count", "", str(a.count), str(b.count))
    if a.code != b.code:
        yield found("code", "code", _code(a.code), _code(b.code))
    if a.shape is not None and b.shape is not None:
        for shape_difference in compare_shapes(a.shape, b.shape):
            kind: Kind = shape_difference.kind
            if kind == "value" and shape_difference.field.rsplit(".", 1)[-1] == "code":
                kind = "code"
            yield found(kind, shape_difference.field, shape_difference.a, shape_difference.b)


def _code(code: int | None) -> str:
    return "none" if code is None else str(code)


def _client_step(step: Step, a: Entry, b: Entry, strict_counts: bool) -> Iterator[Difference]:
    """The client frames of a matched step: the same traffic has the same shapes (and,
    with `strict_counts`, as many frames in a stream of appends)."""
    for found in _entry_pair(step, a, b, strict_counts):
        yield _replace(found, kind="client")


def _pair_steps(
    a: list[Step], b: list[Step]
) -> tuple[list[tuple[Step, Step, list[Entry], list[Entry]]], list[Difference]]:
    """Match the steps by their client frames. A client frame only one side sent is a
    `client` difference; the server entries of its step join the previous matched step."""
    keys_a = [s.client_key for s in a]
    keys_b = [s.client_key for s in b]
    pairs: list[tuple[Step, Step, list[Entry], list[Entry]]] = []
    differences: list[Difference] = []
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [
                (a[i], b[j], list(a[i].server), list(b[j].server))
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        anchor = pairs[-1] if pairs else None
        for side, steps in (("a", a[i1:i2]), ("b", b[j1:j2])):
            for step in steps:
                assert step.client is not None  # step 0 is always matched
                differences.append(
                    Difference(
                        kind="client",
                        event=step.client.key,
                        a="sent" if side == "a" else None,
                        b="sent" if side == "b" else None,
                        step=anchor[0].number if anchor else 0,
                        client=anchor[0].client_key if anchor else CONNECT,
                        a_index=step.client.index if side == "a" else None,
                        b_index=step.client.index if side == "b" else None,
                    )
                )
                if anchor is not None:
                    (anchor[2] if side == "a" else anchor[3]).extend(step.server)
    return pairs, differences


def _handshake(a: Steps, b: Steps) -> Iterator[Difference]:
    """One side refused the upgrade: the rest of the sessions are not comparable."""
    shown_a = "accepted" if a.rejected is None else str(a.rejected)
    shown_b = "accepted" if b.rejected is None else str(b.rejected)
    if a.rejected is not None and b.rejected is not None:
        if a.rejected != b.rejected:
            yield Difference(
                kind="code",
                event="rejected",
                field="code",
                a=str(a.rejected),
                b=str(b.rejected),
                a_index=a.rejected_index,
                b_index=b.rejected_index,
            )
        return
    yield Difference(
        kind="handshake",
        event="rejected",
        a=shown_a,
        b=shown_b,
        a_index=a.rejected_index,
        b_index=b.rejected_index,
    )
