"""`Transcript` and `Record`: cheap appends, lazy parsing, JSONL round trip, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.protocol.errors import ConfigError
from conformance.protocol.findings import Finding
from conformance.transcript import REDACTED, Record, Transcript, read_jsonl, redact

KEY = "sk-proj-Abc123_def456-ghi789JKL012mno345"
EPHEMERAL = "ek_68af1b2c3d4e5f60718293a4b5c6d7e8"
FINDING = Finding(
    code="unknown_parameter",
    message="Unknown parameter: 'session.modalities'.",
    param="session.modalities",
    hint="use session.output_modalities",
)


def sample() -> Transcript:
    transcript = Transcript.begin(
        path="/v1/realtime", query={"model": "gpt-realtime"}, model="gpt-realtime", scenario="s"
    )
    transcript.add_text("server", '{"type":"session.created","event_id":"event_1"}', 0.8)
    transcript.add_text("client", '{"type":"session.update","session":{}}', 5.25, (FINDING,))
    transcript.add_text("client", "not json", 6.0)
    transcript.add_binary("client", b"\x00\xff", 7.0)
    transcript.add_close("client", 1000, "bye", 8.0)
    transcript.add_drop("server", 9.0)
    return transcript


def test_appends_become_indexed_records() -> None:
    transcript = sample()
    assert len(transcript) == 6
    rows = [(r.index, r.direction, r.kind) for r in transcript]
    assert rows == [
        (0, "server", "text"),
        (1, "client", "text"),
        (2, "client", "text"),
        (3, "client", "binary"),
        (4, "client", "close"),
        (5, "server", "drop"),
    ]
    close = transcript.records[4]
    assert (close.code, close.reason, close.t_ms) == (1000, "bye", 8.0)
    assert transcript.records[3].data_b64 == "AP8="
    assert transcript.records[1].findings == (FINDING,)


def test_records_list_grows_with_later_appends() -> None:
    transcript = Transcript()
    records = transcript.records
    index = transcript.add_text("client", "{}", 1.0)
    assert index == 0
    assert transcript.records is records
    assert len(records) == 1


def test_text_is_stored_without_copying() -> None:
    text = '{"type": "input_audio_buffer.append", "audio": "' + "A" * 1000 + '"}'
    transcript = Transcript()
    transcript.add_text("client", text, 0.0)
    assert transcript.records[0].text is text


def test_event_is_parsed_lazily_cached_and_never_raises() -> None:
    transcript = sample()
    created, _update, garbage = transcript.records[:3]
    assert created.event == {"type": "session.created", "event_id": "event_1"}
    assert created.event is created.event
    assert created.event_type == "session.created"
    assert garbage.event is None
    assert garbage.event_type is None
    assert transcript.records[4].event is None
    array = Record(index=0, direction="client", t_ms=0, kind="text", text="[1, 2]")
    assert array.event is None


def test_event_helpers_select_text_records_by_direction() -> None:
    transcript = sample()
    assert [r.index for r in transcript.client_events()] == [1, 2]
    assert [r.index for r in transcript.server_events()] == [0]


def test_jsonl_round_trip_keeps_everything(tmp_path: Path) -> None:
    transcript = sample()
    path = transcript.write_jsonl(tmp_path / "deep" / "t.jsonl")
    lines = path.read_text().splitlines()
    assert lines[0].startswith('{"kind":"meta"')
    assert len(lines) == 7
    reread = read_jsonl(path)
    assert reread.records == transcript.records
    assert reread.meta == transcript.meta
    assert reread.records[1].findings[0].hint == "use session.output_modalities"


def test_findings_are_written_as_error_bodies_plus_hint() -> None:
    line = sample().to_jsonl().splitlines()[2]
    assert (
        '"findings":[{"type":"invalid_request_error","code":"unknown_parameter",'
        '"message":"Unknown parameter: \'session.modalities\'.","param":"session.modalities",'
        '"event_id":null,"hint":"use session.output_modalities"}]'
    ) in line


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty transcript"),
        ('{"kind": "record"}\n', "first line must be"),
        ('{"kind": "meta"}\nnot json\n', ":2: not JSON"),
        ('{"kind": "meta"}\n[1]\n', ":2: expected a JSON object"),
        ('{"kind": "meta"}\n{"direction": "up", "kind": "text", "t_ms": 1}\n', ":2: expected"),
        ('{"kind": "meta"}\n{"direction": "client", "kind": "text"}\n', ":2: not a transcript"),
    ],
)
def test_bad_jsonl_names_the_line(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Transcript.from_jsonl(text, origin="t.jsonl")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read transcript"):
        read_jsonl(tmp_path / "missing.jsonl")


# --- redaction ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} end", f"key sk-{REDACTED} end"),
        (f'"Authorization: Bearer {KEY}"', f'"Authorization: Bearer {REDACTED}"'),
        ("bearer abc.def", f"bearer {REDACTED}"),
        (
            f"realtime, openai-insecure-api-key.{EPHEMERAL}",
            f"realtime, openai-insecure-api-key.{REDACTED}",
        ),
        (f"secret {EPHEMERAL}", f"secret ek_{REDACTED}"),
        ("task-scheduler risk-averse sk-short", "task-scheduler risk-averse sk-short"),
        (
            "Incorrect API key provided: sk-*************abcd.",
            "Incorrect API key provided: sk-*************abcd.",
        ),
    ],
)
def test_redact_masks_keys_and_tokens(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_masks_exact_secrets_but_not_tiny_ones() -> None:
    assert (
        redact("my-key-1 and my-key-12", ["my-key-1", "my-key-12"]) == f"{REDACTED} and {REDACTED}"
    )
    assert redact("abc", ["abc"]) == "abc"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=8, max_size=40))
def test_redacted_keys_never_survive(suffix: str) -> None:
    key = "sk-" + suffix
    assert key not in redact(f'{{"text": "{key}", "auth": "Bearer {key}"}}')


def test_a_key_never_reaches_a_written_file(tmp_path: Path) -> None:
    configured = "custom-key-without-prefix-42"
    transcript = Transcript.begin(
        path="/v1/realtime",
        query={"model": "gpt-realtime", "api_key": configured},
        headers=[("Authorization", f"Bearer {KEY}"), ("api-key", configured)],
        subprotocols=["realtime", f"openai-insecure-api-key.{EPHEMERAL}"],
        secrets=[configured],
    )
    transcript.add_text("client", f'{{"instructions": "{configured} {KEY} {EPHEMERAL}"}}', 1.0)
    transcript.add_close("server", 4000, f"reason {configured}", 2.0)
    transcript.add_text(
        "server", "{}", 3.0, (Finding(code=None, message=f"bad {KEY}", hint=configured),)
    )
    meta = repr(transcript.meta)
    for secret in (KEY, EPHEMERAL, configured):
        assert secret not in meta
    transcript.meta["note"] = f"opened with {KEY}"  # added raw later: masked when written
    content = transcript.write_jsonl(tmp_path / "t.jsonl").read_text()
    for secret in (KEY, EPHEMERAL, configured):
        assert secret not in content
    assert content.count(REDACTED) >= 8
    raw = transcript.records[0].text
    assert raw is not None
    assert KEY in raw  # in memory the exact frame text is kept


def test_meta_headers_keep_their_scheme_when_masked() -> None:
    transcript = Transcript.begin(
        headers=[("Authorization", "Basic dXNlcjpwdw=="), ("Cookie", "a=b")]
    )
    assert transcript.meta["headers"] == [
        ["Authorization", f"Basic {REDACTED}"],
        ["Cookie", REDACTED],
    ]
