"""The transcript format's version (docs/transcripts.md): written in every meta line,
optional when read (older files), a newer one refused with the file and line named."""

from __future__ import annotations

import json

import pytest

from conformance.protocol.errors import ConfigError
from conformance.transcript import FORMAT_VERSION, Transcript

RECORD = '{"direction": "client", "t_ms": 1, "kind": "close", "code": 1000, "reason": ""}\n'


def test_every_meta_line_carries_the_format_version() -> None:
    transcript = Transcript.begin(path="/v1/realtime", started_at="2026-01-01T00:00:00+00:00")
    transcript.meta["format_version"] = 99  # meta cannot override what the writer writes
    first = json.loads(transcript.to_jsonl().splitlines()[0])
    assert first["kind"] == "meta"
    assert first["format_version"] == FORMAT_VERSION == 1
    again = Transcript.from_jsonl(transcript.to_jsonl())
    assert "format_version" not in again.meta  # a property of the file, not of the session


def test_a_file_without_a_version_is_version_1_and_unknown_keys_are_ignored() -> None:
    text = '{"kind": "meta", "path": "/v1/realtime", "by": "a tool"}\n' + RECORD.replace(
        '"reason": ""', '"reason": "", "written_by": "elsewhere"'
    )
    transcript = Transcript.from_jsonl(text)
    assert transcript.meta == {"path": "/v1/realtime", "by": "a tool"}
    [record] = transcript.records
    assert (record.kind, record.code, record.index) == ("close", 1000, 0)


@pytest.mark.parametrize(
    ("version", "complaint"),
    [
        (2, "t.jsonl:1: format_version 2 is newer than this reader's (1): upgrade"),
        ('"1"', "t.jsonl:1: format_version must be a positive integer, got '1'"),
        (0, "t.jsonl:1: format_version must be a positive integer, got 0"),
        ("true", "t.jsonl:1: format_version must be a positive integer, got True"),
    ],
)
def test_a_version_this_reader_cannot_read_is_refused(version: object, complaint: str) -> None:
    text = f'{{"kind": "meta", "format_version": {version}}}\n' + RECORD
    with pytest.raises(ConfigError) as raised:
        Transcript.from_jsonl(text, origin="t.jsonl")
    assert complaint in str(raised.value)
