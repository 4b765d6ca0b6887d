"""The one place that parses and serialises JSON (orjson: 2-3x the stdlib's speed).

`loads` has a fast path for big frames (issue 12: one 16 MB frame must not hold the
mock's event loop for tens of milliseconds). orjson reads strings at about 1 GB/s, so a
16 MB `input_audio_buffer.append` costs ~20 ms to parse, nearly all of it in the one
base64 string. A frame of at least `BIG_FRAME` characters of ASCII is parsed as a
*skeleton*: the plain head of each long string value (its characters up to the first
backslash or control character: all of them, usually; proven with one SIMD base64 check,
or one `str.find` per control character) is cut out of the text and replaced by a short
marker, orjson parses the skeleton, and the cut runs are put back in place of their
markers. The result is the object orjson returns for the whole frame, and an invalid
frame raises the same `JSONDecodeError` (message, position, line and column): orjson
reads a cut run (plain characters inside a string) without any change of state, so an
error before a run keeps its position and an error after it moves by the run's length.
What the fast path cannot prove (non-ASCII text, more than `_MAX_STRINGS` strings, a
skeleton over `_MAX_SKELETON`) goes to orjson whole, as before.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Generator, Iterator
from typing import Any, Final

import orjson
import pybase64

JSONDecodeError = orjson.JSONDecodeError

# Frames shorter than this are parsed by orjson directly (the fast path pays off above
# ~100 KB; 1 MiB keeps it away from every ordinary frame).
BIG_FRAME: Final = 1 << 20
# A string value this long is cut out of the skeleton.
_MIN_RUN: Final = 64 * 1024
# Bounds on the work around orjson: the quotes scanned in Python, and the skeleton
# walked in Python to put the runs back.
_MAX_STRINGS: Final = 4096
_MAX_SKELETON: Final = 64 * 1024
_CONTROL: Final = tuple(chr(c) for c in range(32))
_DATA_URL_HEAD: Final = 1024  # "data:image/jpeg;base64," and the like
# A data URL's base64 is checked in pieces this long (a multiple of 4, under glibc's
# mmap threshold): each piece reuses the memory the last one freed. One 16 MB decode
# costs ~7,000 fresh pages, which is 20 ms on a VM where a page fault costs ~3 us.
_PIECE: Final = 64 * 1024
# `dumps_steps` serialises a long string this many characters per step (~1 ms).
_DUMP_PIECE: Final = 1 << 20


# The last big base64 string `loads` proved plain, and its decoding (see `take_base64`).
_decoded: tuple[str, bytes] | None = None
# What `prepare` found in a big frame, by `id(text)` (the text is kept, so the id stays
# its own): its runs, and the decoding `take_base64` gives out. `loads(text)` takes it.
_Runs = list[tuple[int, str]]
_prepared: dict[int, tuple[str, _Runs, tuple[str, bytes] | None]] = {}


def loads(data: str | bytes) -> Any:
    """Parse one JSON document."""
    global _decoded
    _decoded = None
    if len(data) >= BIG_FRAME and type(data) is str and data.isascii():
        return _loads_big(data)
    return orjson.loads(data)


def prepare(text: str) -> Iterator[None]:
    """Do the heavy part of `loads(text)` for a big frame in steps; yields between them.

    Cutting out a long string copies it (16 MB of fresh pages: ~12 ms on a VM where a page
    fault costs ~3 us) and proving it base64 decodes it (12 MB more): each is a step, so a
    caller can spread one frame near the 16 MB limit over turns of its event loop (issue
    12). The next `loads(text)` (the same object) uses what was found, and returns and
    raises exactly what it would have; `unprepare(text)` drops it unused.
    """
    if len(text) < BIG_FRAME or type(text) is not str or not text.isascii():
        return
    runs, decoded = yield from _plain_runs_steps(text)
    _prepared[id(text)] = (text, runs, decoded)


def unprepare(text: str) -> None:
    """Forget what `prepare(text)` found, if `loads(text)` did not take it."""
    entry = _prepared.get(id(text))
    if entry is not None and entry[0] is text:
        del _prepared[id(text)]


def take_base64(value: str) -> bytes | None:
    """`pybase64.b64decode(value, validate=True)` if the last `loads` already decoded it.

    Proving a 16 MB string plain decodes it (strictly, as an append's audio is decoded);
    the caller that decodes the same string object next takes that result instead of
    decoding again (~1-8 ms and 12 MB less). One use; any `loads` call forgets it.
    """
    global _decoded
    decoded = _decoded
    if decoded is None or decoded[0] is not value:
        return None
    _decoded = None
    return decoded[1]


def dumps(obj: Any) -> str:
    """Serialise compactly to text, as the live server frames its events."""
    return orjson.dumps(obj).decode()


def dumps_bytes(obj: Any) -> bytes:
    """Serialise compactly to UTF-8 bytes (send with `text=True` to make a text frame)."""
    return orjson.dumps(obj)


def dumps_steps(obj: Any) -> Generator[None, None, str] | None:
    """`dumps(obj)` in steps, when `obj` holds long strings; None when it holds none.

    For an event that echoes a client's huge string (a 16 MB data URL or `instructions`,
    issue 12): the long strings (`_MIN_RUN` characters or more, `BIG_FRAME` in all) are
    cut out and replaced by markers, orjson serialises the rest at once, and each long
    string is serialised `_DUMP_PIECE` characters per step (JSON escapes one character at a
    time, so the pieces make the same text as the whole; a piece with nothing to escape is
    kept as it is). The last step joins the text. Exhaust the generator (it yields between
    steps) to get exactly `dumps(obj)`; an object orjson refuses raises as `dumps` does.
    Cheap when there is nothing to cut: one walk over the containers, no copy.
    """
    if not _holds_long(obj):
        return None
    return _dumps_in_steps(obj)


def dumps_pieces(obj: Any) -> Iterator[bytes]:
    """`dumps_bytes(obj)` as consecutive pieces, without ever joining them.

    For a writer of a huge line (the recorder, issue 12): like `dumps_steps`, each long
    string is serialised `_DUMP_PIECE` characters per piece; the rest comes whole.
    `b"".join(dumps_pieces(obj)) == dumps_bytes(obj)`; an object orjson refuses raises
    as `dumps_bytes` does (when its piece is reached).
    """
    if not _holds_long(obj):
        yield orjson.dumps(obj)
        return
    nonce = f"~{os.urandom(8).hex()}~"
    cut: list[str] = []
    skeleton = _cut_long(obj, nonce, cut)
    text = orjson.dumps(skeleton)
    del skeleton
    last = 0
    for number, value in enumerate(cut):
        marker = f'"{nonce}{number}~"'.encode()
        at = text.index(marker, last)
        yield text[last:at] + b'"'
        last = at + len(marker)
        for start in range(0, len(value), _DUMP_PIECE):
            yield orjson.dumps(value[start : start + _DUMP_PIECE])[1:-1]
        yield b'"'
    yield text[last:]


def _holds_long(obj: Any) -> bool:
    """True when the strings of at least `_MIN_RUN` characters in `obj` add up to
    `BIG_FRAME` or more (dicts and lists walked, nothing copied)."""
    total = 0
    todo = [obj]
    while todo:
        node = todo.pop()
        kind = type(node)
        if kind is str:
            if len(node) >= _MIN_RUN:
                total += len(node)
                if total >= BIG_FRAME:
                    return True
        elif kind is dict:
            todo.extend(node.values())
        elif kind is list or kind is tuple:
            todo.extend(node)
    return False


def _dumps_in_steps(obj: Any) -> Generator[None, None, str]:
    nonce = f"~{os.urandom(8).hex()}~"  # 64 random bits: no string can hold a marker
    cut: list[str] = []
    skeleton = _cut_long(obj, nonce, cut)
    text = orjson.dumps(skeleton).decode()
    del skeleton
    parts: list[str] = []
    last = 0
    for number, value in enumerate(cut):
        marker = f'"{nonce}{number}~"'
        at = text.index(marker, last)  # markers come out in walk order: search each one
        parts.append(text[last:at])
        last = at + len(marker)
        pieces: list[str] = []
        plain = True
        for start in range(0, len(value), _DUMP_PIECE):
            yield
            chunk = value[start : start + _DUMP_PIECE]
            out = orjson.dumps(chunk)
            if len(out) == len(chunk) + 2 and chunk.isascii():
                pieces.append(chunk)  # nothing escaped
            else:
                plain = False
                pieces.append(out[1:-1].decode())
        parts.append('"')
        if plain:
            parts.append(value)  # the string itself: no copy of its pieces is joined
        else:
            parts.extend(pieces)
        parts.append('"')
        del pieces
    parts.append(text[last:])
    yield
    return "".join(parts)


def _cut_long(obj: Any, nonce: str, cut: list[str]) -> Any:
    """A copy of `obj` whose strings of `_MIN_RUN` characters or more are markers.

    Containers are copied (tuples become lists, as orjson writes them: arrays); the
    long strings go to `cut`, in the order orjson will write their markers (dicts and
    lists in order, depth first).
    """
    kind = type(obj)
    if kind is str:
        if len(obj) < _MIN_RUN:
            return obj
        cut.append(obj)
        return f"{nonce}{len(cut) - 1}~"
    if kind is dict:
        return {key: _cut_long(value, nonce, cut) for key, value in obj.items()}
    if kind is list or kind is tuple:
        return [_cut_long(value, nonce, cut) for value in obj]
    return obj


def _loads_big(text: str) -> Any:
    """`orjson.loads(text)` for a big ASCII `text`, with its long plain strings cut out."""
    global _decoded
    entry = _prepared.pop(id(text), None) if _prepared else None
    if entry is not None and entry[0] is text:
        runs, _decoded = entry[1], entry[2]
    else:
        if entry is not None:  # another text at that id: not this one's
            _prepared[id(entry[0])] = entry
        runs, _decoded = _run_all(_plain_runs_steps(text))
    if not runs or len(text) - sum(len(run) for _, run in runs) > _MAX_SKELETON:
        return _whole(text)
    nonce = f"~{os.urandom(8).hex()}~"  # 64 random bits: no client can guess a marker
    pieces: list[str] = []
    markers: dict[str, str] = {}
    shifts: list[tuple[int, int]] = []  # (skeleton position after a marker, chars cut)
    last = skeleton_len = 0
    for number, (start, run) in enumerate(runs):
        marker = f"{nonce}{number}~"
        pieces.append(text[last:start])
        pieces.append(marker)
        skeleton_len += start - last + len(marker)
        shifts.append((skeleton_len, len(run) - len(marker)))
        markers[marker] = run
        last = start + len(run)
    pieces.append(text[last:])
    skeleton = "".join(pieces)
    try:
        value = orjson.loads(skeleton)
    except JSONDecodeError as exc:
        _forget()
        raise _moved(exc, text, shifts) from None
    return _restore(value, markers, nonce)


def _moved(exc: JSONDecodeError, text: str, shifts: list[tuple[int, int]]) -> JSONDecodeError:
    """The skeleton's error as orjson raises it for the whole `text`.

    Built like `json.JSONDecodeError(msg, text, pos)`, without its two scans of 16 MB
    for the line and column: cut runs hold no newline, so the line is the skeleton's.
    """
    pos = exc.pos + sum(cut for after, cut in shifts if exc.pos >= after)
    colno = pos - text.rfind("\n", 0, pos)
    error = JSONDecodeError.__new__(JSONDecodeError)
    ValueError.__init__(error, f"{exc.msg}: line {exc.lineno} column {colno} (char {pos})")
    error.msg, error.doc, error.pos, error.lineno, error.colno = (
        exc.msg,
        text,
        pos,
        exc.lineno,
        colno,
    )
    return error


def _whole(text: str) -> Any:
    """The fast path gives up: orjson parses all of `text`."""
    _forget()
    return orjson.loads(text)


def _forget() -> None:
    global _decoded
    _decoded = None


def _run_all(steps: Generator[None, None, Any]) -> Any:
    """Take every step of `steps` at once; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def _plain_runs(text: str) -> _Runs:
    """`_plain_runs_steps(text)`'s runs, all steps at once."""
    runs: _Runs = _run_all(_plain_runs_steps(text))[0]
    return runs


def _plain_runs_steps(
    text: str,
) -> Generator[None, None, tuple[_Runs, tuple[str, bytes] | None]]:
    """`(start, run)`: the plain head of each long string value in `text`, and where.

    Also returns the last base64 string proven plain and its decoding (`take_base64`).
    Yields after each long string is copied out and after it is proven plain.

    Walks the quotes with `str.find`: outside a string a quote opens one (in any
    document orjson reads that far without an error), inside one the first quote after
    an even number of backslashes closes it; a string that reaches the end of `text`
    unterminated counts up to the end. A string's plain head runs up to its first
    backslash or control character (the whole string, usually). Keys (a string followed
    by `:`) are not cut. More than `_MAX_STRINGS` strings: `[]` (orjson takes it all).
    """
    runs: _Runs = []
    decoded: tuple[str, bytes] | None = None
    find = text.find
    size = len(text)
    pos = find('"')
    strings = 0
    while pos >= 0:
        strings += 1
        if strings > _MAX_STRINGS:
            return [], decoded
        start = pos + 1
        end = find('"', start)
        while end > 0 and text[end - 1] == "\\":
            back = end - 1
            while back >= start and text[back] == "\\":
                back -= 1
            if (end - 1 - back) % 2 == 0:
                break  # an even run of backslashes escapes itself, not the quote
            end = find('"', end + 1)
        stop = size if end < 0 else end
        if stop - start >= _MIN_RUN and not _is_key(text, stop):
            value = text[start:stop]
            yield
            run, proven = _plain_head(value)
            del value
            if proven is not None:
                decoded = (run, proven)
            yield
            if len(run) >= _MIN_RUN:
                runs.append((start, run))
        if end < 0:
            break
        pos = find('"', end + 1)
    return runs, decoded


def _is_key(text: str, quote: int) -> bool:
    after = text[quote + 1 : quote + 65].lstrip(" \t\n\r")
    return after.startswith(":")


def _plain_head(value: str) -> tuple[str, bytes | None]:
    """`value` up to its first backslash or control character (ASCII `value`).

    Also its strict base64 decoding when it was proven plain by decoding it whole.

    Base64 (a data URL's, after its head) is proven plain by SIMD decoding (~1-3 ms for
    16 MB); anything else takes one `str.find` per control character (~5-9 ms for 16 MB).
    """
    stop = value.find("\\")
    if stop < 0:
        stop = len(value)
        body = 0
        if value.startswith("data:"):  # a data URL: a short head, then base64
            comma = value.find(",", 0, _DATA_URL_HEAD)
            if comma > 0 and not any(c < " " for c in value[:comma]):
                body = comma + 1
        try:
            if body:  # in pieces: nobody reuses the decoding, and fresh pages cost most
                for start in range(body, len(value), _PIECE):
                    pybase64.b64decode(value[start : start + _PIECE], validate=True)
                return value, None
            return value, pybase64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    for char in _CONTROL:
        found = value.find(char, 0, stop)
        if found >= 0:
            stop = found
    return (value if stop == len(value) else value[:stop]), None


def _restore(value: Any, markers: dict[str, str], nonce: str) -> Any:
    """Put every cut run back in place of its marker (at the start of a string value)."""
    if type(value) is str:
        return _unmark(value, markers, nonce)
    todo: list[Any] = [value]
    while todo:
        node = todo.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            kind = type(item)
            if kind is str:
                if item.startswith(nonce):
                    node[key] = _unmark(item, markers, nonce)
            elif kind is dict or kind is list:
                todo.append(item)
    return value


def _unmark(value: str, markers: dict[str, str], nonce: str) -> str:
    if not value.startswith(nonce):
        return value
    end = value.index("~", len(nonce)) + 1
    return markers[value[:end]] + value[end:]
