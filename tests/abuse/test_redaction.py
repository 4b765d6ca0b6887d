"""Credentials never reach a report: every key shape OpenAI and Azure use is masked
(`conformance.transcript.redact`, also inside JSON-escaped text), `check` masks
everything it writes, and the client under test never gets the runner's credentials."""

from __future__ import annotations

import base64
import json
import os
import random
import shlex
import sys
import timeit
from pathlib import Path

import pytest

from client_reference._redact import redact as reference_redact
from conformance.cli import main
from conformance.runner.inputs import inherited_env
from conformance.transcript import REDACTED, _masker, _scanned_part, redact, redact_meta

from ..runner.support import suite

HEX = "0123456789abcdef0123456789abcdef"  # an Azure key: 32 hex digits
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

# (text holding a secret, the secret): each must be masked
SHAPES = [
    ("key sk-abcdefghijklmnop1234 end", "sk-abcdefghijklmnop1234"),
    ("sk-proj-Abc_Def-1234567890abcdef", "Abc_Def-1234567890abcdef"),
    ("sk-svcacct-ZYX987654321_abc", "ZYX987654321_abc"),
    ("sk-admin-QWERTY123456789", "QWERTY123456789"),
    ('{"client_secret": {"value": "ek_68af2cfa1c2c8191b0ad5b3b"}}', "68af2cfa1c2c8191b0ad5b3b"),
    ("Authorization: Bearer whatever.token-shape_1", "whatever.token-shape_1"),
    (f"authorization: bearer {JWT}", JWT),
    ("AUTHORIZATION: BEARER ABCDEFGHIJKL", "ABCDEFGHIJKL"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    (f"GET /v1/realtime?model=gpt-realtime&api_key={HEX}", HEX),
    (f"wss://host/v1/realtime?apikey={HEX}&model=x", HEX),
    (f"wss://host/openai/realtime?api-key={HEX}", HEX),
    (f"api-key: {HEX}", HEX),
    (f"Api-Key: {HEX.upper()}", HEX.upper()),
    (f"x-api-key: {HEX}", HEX),
    (f"Ocp-Apim-Subscription-Key: {HEX}", HEX),
    (f'{{"api_key": "{HEX}"}}', HEX),
    ("realtime, openai-insecure-api-key.sk-abcdefghijk123", "abcdefghijk123"),
    ("openai-insecure-api-key.anything-at-all_9", "anything-at-all_9"),
    (f"AZURE_OPENAI_API_KEY={HEX}", HEX),
    ("OPENAI_ADMIN_KEY=admin-value-not-sk", "admin-value-not-sk"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"),
    (f'{{"access_token": "{JWT}"}}', JWT),
    # JSON-escaped: a string that holds JSON (a header dump inside an event, a log line).
    ('{"log": "{\\"Authorization\\": \\"Bearer sk-abcdefghijk12\\"}"}', "abcdefghijk12"),
    ('{"log": "{\\"Authorization\\": \\"Bearer opaque-token-77\\"}"}', "opaque-token-77"),
    (f'{{"log": "{{\\"api-key\\": \\"{HEX}\\"}}"}}', HEX),
    (f'{{"a": "{{\\\\\\"api_key\\\\\\": \\\\\\"{HEX}\\\\\\"}}"}}', HEX),  # escaped twice
]


@pytest.mark.parametrize(("text", "secret"), SHAPES)
def test_every_key_shape_is_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert REDACTED in masked
    assert secret not in reference_redact(text)  # realtime-notes masks with the same rules
    assert "***" in reference_redact(text)


def test_masking_keeps_the_kind_and_the_escaping() -> None:
    assert redact("Bearer sk-proj-abcdefghijk") == f"Bearer {REDACTED}"
    assert redact("x sk-proj-abcdefghijk") == f"x sk-{REDACTED}"
    assert redact(f'\\"api-key\\": \\"{HEX}\\"') == f'\\"api-key\\": \\"{REDACTED}\\"'
    escaped = '{\\"Authorization\\": \\"Bearer abcdefghijk\\"}'
    assert redact(escaped) == f'{{\\"Authorization\\": \\"Bearer {REDACTED}\\"}}'
    assert redact("api-key: x", ["x-secret"]) == "api-key: x"  # too short to be a key


@pytest.mark.parametrize(
    "prose",
    [
        "Missing bearer or basic authentication in header",
        "the api key is missing; max_output_tokens: 4096",
        '{"type": "response.output_text.delta", "delta": "token", "logprobs": [{"token": "Hi"}]}',
        "a risk-averse task-oriented reply; seek_help",
        "monkey=business, Authorization header required",
        '{"type":"input_audio_buffer.append","audio":"AAAAkeyAAAAtokenAAAA="}',
    ],
)
def test_prose_and_events_stay_as_they_are(prose: str) -> None:
    assert redact(prose) == prose


def test_meta_recorded_elsewhere_is_masked() -> None:
    meta = {
        "path": "/v1/realtime",
        "query": {"model": "gpt-realtime", "apikey": HEX, "key": "shortish"},
        "headers": [["Authorization", "Bearer opaque"], ["api-key", HEX], ["X-Trace", "sk-" + HEX]],
        "subprotocols": ["realtime", "openai-insecure-api-key.opaque123"],
    }
    masked = json.dumps(redact_meta(meta))
    for secret in (HEX, "opaque", "shortish", "opaque123"):
        assert secret not in masked
    assert redact_meta(meta)["query"]["model"] == "gpt-realtime"


# --- `realtime-conformance check` on a transcript recorded elsewhere -----------------------
LEAK = "sk-proj-LEAKLEAKLEAK1234567890"
AZURE = "fedcba9876543210fedcba9876543210"


def leaky_transcript(path: Path) -> Path:
    """A transcript as another recorder might write it: keys verbatim everywhere."""
    meta = {
        "kind": "meta",
        "path": "/v1/realtime",
        "query": {"model": "gpt-realtime-1.5", "apikey": AZURE},
        "headers": [["Authorization", f"Bearer {LEAK}"], ["OpenAI-Beta", "realtime=v1"]],
        "subprotocols": [f"openai-insecure-api-key.{LEAK}"],
        "model": "gpt-realtime-1.5",
        "scenario": None,
        "session_id": "sess_1",
        "started_at": "2026-01-01T12:00:00.000+00:00",
    }
    bad_update = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": f'headers: {{"Authorization": "Bearer {LEAK}", "api-key": "{AZURE}"}}',
            "modalities": ["text"],  # a beta field: the schema check quotes the event
            "api_key": LEAK,
        },
    }
    records = [
        {
            "index": 0,
            "direction": "client",
            "t_ms": 1.0,
            "kind": "text",
            "text": json.dumps(bad_update),
        },
        {
            "index": 1,
            "direction": "server",
            "t_ms": 2.0,
            "kind": "close",
            "code": 1000,
            "reason": LEAK,
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in [meta, *records]) + "\n")
    return path


def test_check_masks_keys_in_everything_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = leaky_transcript(tmp_path / "elsewhere.jsonl")
    out = tmp_path / "stdout.txt"
    out.write_text(f"connecting with {LEAK} and api-key: {AZURE}\n")
    reports = {name: tmp_path / f"report.{name}" for name in ("json", "html", "xml")}
    argv = [
        *("check", str(transcript), "--as-case", "elsewhere", "--exit-code", "0"),
        *("--stdout", str(out), "--checks", "all"),
        *("--json", str(reports["json"]), "--html", str(reports["html"])),
        *("--junit", str(reports["xml"])),
    ]
    assert main(argv) == 1  # the beta header and the schema check fail it
    console = capsys.readouterr()
    written = [console.out, console.err, *(p.read_text() for p in reports.values())]
    assert "does_not_send_beta_header" in console.out  # it was judged and reported
    for text in written:
        assert "LEAKLEAK" not in text
        assert AZURE not in text


# --- the client's environment -------------------------------------------------------------
CREDENTIALS = {
    "OPENAI_ADMIN_KEY": "admin-not-key-shaped-1",
    "AZURE_OPENAI_API_KEY": "azurevalue0123456789",
    "AWS_SECRET_ACCESS_KEY": "awsvalue0123456789",
    "OPENAI_API_BASE": "https://leak.example.invalid/v1",
    "GITHUB_TOKEN": "ghvalue0123456789",
    "NODE_AUTH_TOKEN": "npmvalue0123456789",
    "npm_config__authToken": "npmrcvalue0123456789",
}


def test_the_inherited_environment_is_an_allow_list() -> None:
    base = {
        **CREDENTIALS,
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "NODE_OPTIONS": "--x",
        "PYTHONPATH": "/p",
        "MY_APP_MODE": "1",
        "SSL_CERT_FILE": "/c",
    }
    assert inherited_env(base) == {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "NODE_OPTIONS": "--x",
        "PYTHONPATH": "/p",
        "SSL_CERT_FILE": "/c",
    }
    passed = inherited_env(base, ["MY_APP_*", "GITHUB_TOKEN"])
    assert passed["MY_APP_MODE"] == "1"
    assert passed["GITHUB_TOKEN"] == CREDENTIALS["GITHUB_TOKEN"]  # asked for by name


def every_text(folder: Path) -> str:
    """Every file under `folder` but the screenshots, as text."""
    return "".join(
        f.read_text(errors="replace")
        for f in folder.rglob("*")
        if f.is_file() and f.suffix != ".png"
    )


async def test_a_client_printing_its_environment_shows_no_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_PASSED", "passed-on-request")
    dump = "import os; [print(f'{k}={v}') for k, v in sorted(os.environ.items())]"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(dump)}"
    result = await suite(command, tmp_path, "default", pass_env=("MY_PASSED",))
    (case,) = result.results
    assert case.outcome is not None
    printed = (tmp_path / "cases" / "default" / "stdout.txt").read_text()
    assert "PATH=" in printed
    assert f"OPENAI_API_KEY={REDACTED}" in printed  # the test key, masked
    assert "MY_PASSED=passed-on-request" in printed
    for name, value in CREDENTIALS.items():
        assert f"{name}=" not in printed
        assert value not in printed
        assert value not in case.outcome.stdout
    everything = every_text(tmp_path)
    assert not any(value in everything for value in CREDENTIALS.values())
    assert os.environ["OPENAI_ADMIN_KEY"]  # the runner's own environment is untouched


# --- the fast pre-check: the same masking, at a fraction of the cost ------------------------
B64 = base64.b64encode(bytes(range(256)) * 12).decode()  # 4 KB of standard base64


def frames_around(text: str) -> list[str]:
    """`text` next to long base64 payloads, in the places a pre-check could lose it."""
    return [
        json.dumps({"type": "input_audio_buffer.append", "audio": B64, "note": text}),
        json.dumps({"type": "input_audio_buffer.append", "note": text, "audio": B64}),
        f'{{"audio": "{B64}{text}{B64}"}}',
        f'{{"audio": "{B64} {text} {B64}"}}',
        f'"{B64[:300]}{text}"',
        f'"{text}{B64}"',
        B64 + text + B64,
        '"' + B64 + "apikey" + "\\" * 8 + '": "' + B64[:40] + '"',  # deep in a payload
        '"' + B64 + "api_key" + "\\" * 300 + '": "' + HEX + '"',  # backslashes: no margin
    ]


@pytest.mark.parametrize(("text", "secret"), SHAPES)
def test_the_pre_check_masks_what_the_full_scan_masks(text: str, secret: str) -> None:
    """Masking with the pre-check gives exactly what the full scan gives."""
    full, fast = _masker((), precheck=False), _masker(())
    for frame in frames_around(text):
        assert fast(frame) == full(frame)  # glued to base64, `sk-` may not start a key
    assert secret not in fast(frames_around(text)[0])


def test_the_pre_check_agrees_on_random_frames() -> None:
    """Random mixes of base64, key words, separators, quotes and backslashes."""
    pieces = [B64[:700], B64[:90], "key", "Key", "api", "_", "-", ":", "=", " ", '"', "\\",
              "bearer", "token", "sk-", "ek_", "passwd", "AUTHORIZATION", HEX, "\n"]  # fmt: skip
    rng = random.Random(12)
    secrets = ("sk-test-0123456789abcdef", "plainsecretvalue" * 5)
    full, fast = _masker(secrets, precheck=False), _masker(secrets)
    pieces += [B64[:700]] * 4 + ['"'] * 4  # long quoted payloads: the pre-check cuts them
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(3, 30)))
        if rng.random() < 0.2:
            text += rng.choice(secrets)
        assert fast(text) == full(text), text


def test_the_common_frames_are_returned_unchanged_and_cheaply() -> None:
    """An audio append, a text event and an image item hold no key: masking returns them
    as they are. The pre-check scans ~200 characters of a 3 KB audio frame and of a
    300 KB image (measured: x2-3 and x30-45 cheaper than the full scan; asserted: the
    scanned part, and x5 for the image)."""
    rng = random.Random(3)
    audio = json.dumps({"type": "input_audio_buffer.append", "audio": _b64(rng, 2400)})
    prose = ("What is on the screen? Describe the window and the dialog. " * 16)[:900]
    text = json.dumps({"type": "conversation.item.create", "item": {"content": prose}})
    image = json.dumps(
        {"type": "input_image", "image_url": "data:image/png;base64," + _b64(rng, 225_000)}
    )
    secrets = ("sk-test-0123456789abcdef",)
    full, fast = _masker(secrets, precheck=False), _masker(secrets)
    for frame in (audio, text, image):
        assert fast(frame) is frame
        assert full(frame) == frame
    assert len(_scanned_part(audio)) < 300
    assert len(_scanned_part(image)) < 300
    slow_s = min(timeit.repeat(lambda: full(image), number=5, repeat=5))
    fast_s = min(timeit.repeat(lambda: fast(image), number=5, repeat=5))
    assert fast_s * 5 < slow_s, (fast_s, slow_s)


def _b64(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()
