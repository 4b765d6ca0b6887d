"""Pins of translation sessions that the mutation run found unguarded (issue 13, point 6).

In memory: a `TranslationApp` behind `InMemoryTransport` on a virtual clock.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import pytest

from conformance.transport import Closed, InMemoryTransport
from mock_server.config import MockConfig
from mock_server.hooks import NoHooks
from mock_server.request import ConnectRequest
from mock_server.translation import TranslationApp, merge_translation_config

KEY = "sk-test-translation0123456789"
TARGET = "/v1/realtime/translations?model=gpt-realtime-translate"


def open_translation(hooks: Any = None, **config: Any) -> tuple[TranslationApp, InMemoryTransport]:
    request = ConnectRequest.from_target(TARGET, [("Authorization", f"Bearer {KEY}")])
    app = TranslationApp(request, MockConfig(pace="fast", **config), hooks=hooks)
    return app, InMemoryTransport(app)


def tone(ms: int) -> str:
    samples = 24 * ms
    data = struct.pack(f"<{samples}h", *(int(8000 * math.sin(i * 0.05)) for i in range(samples)))
    return base64.b64encode(data).decode()


def translated_words(language: str) -> list[str]:
    """The output transcript of 1 s of speech translated into `language`, as words."""
    _, wire = open_translation()
    assert isinstance(created := wire.recv_event(), dict)
    assert created["type"] == "session.created"
    wire.send({"type": "session.update", "session": {"audio": {"output": {"language": language}}}})
    assert wire.events_until(lambda e: e["type"] in ("session.updated", "error"))[-1]["type"] == (
        "session.updated"
    )
    wire.send({"type": "session.input_audio_buffer.append", "audio": tone(1000)})
    wire.send({"type": "session.close"})
    events = wire.events_until(lambda e: e["type"] == "session.closed")
    text = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert text.strip(), "no output transcript"
    return text.split()


# Each target language's words, spelt out here so a change to the mock's data shows.
WORDS = {
    "es": {"esta", "es", "una", "traducción", "simulada", "del", "servidor", "de", "prueba"},
    "fr": {"ceci", "est", "une", "traduction", "simulée", "du", "serveur", "de", "test"},
    "de": {"dies", "ist", "eine", "simulierte", "Übersetzung", "des", "Testservers"},
    "en": {"this", "is", "a", "simulated", "translation", "from", "the", "mock"},
}


@pytest.mark.parametrize("language", sorted(WORDS))
def test_each_target_language_is_translated_into_its_own_words(language: str) -> None:
    words = translated_words(language)
    assert set(words) <= WORDS[language], words
    assert len(words) >= 3


def test_a_regional_language_tag_uses_its_base_language() -> None:
    assert set(translated_words("fr-CA")) <= WORDS["fr"]


def test_an_unknown_language_gets_words_tagged_with_its_code() -> None:
    words = translated_words("xx")
    assert all(word.startswith("xx:") for word in words), words


def test_a_client_secrets_configuration_is_merged_into_the_session() -> None:
    session: dict[str, Any] = {
        "audio": {
            "input": {"transcription": None, "noise_reduction": None},
            "output": {"language": "es"},
        }
    }
    config: dict[str, Any] = {
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "noise_reduction": {"type": "far_field"},
            },
            "output": {"language": "de"},
        }
    }
    merged = merge_translation_config(session, config)
    assert merged["audio"] == config["audio"]
    assert session["audio"]["output"]["language"] == "es"  # the original is left alone
    assert merge_translation_config(session, {}) == session


class RecordsModel(NoHooks):
    model: str | None = None

    def on_open(self, ctl: Any, now_ms: float) -> None:
        self.model = ctl.state.model


def test_hooks_see_the_translation_model() -> None:
    hooks = RecordsModel()
    _, wire = open_translation(hooks=hooks)
    wire.recv_event()
    assert hooks.model == "gpt-realtime-translate"


@pytest.mark.parametrize(
    ("seconds", "amount"), [(30.0, "30 seconds"), (120.0, "2 minutes"), (3600.0, "60 minutes")]
)
def test_the_maximum_duration_error_says_how_long_in_seconds_or_minutes(
    seconds: float, amount: str
) -> None:
    _, wire = open_translation(session_max_duration=seconds)
    wire.recv_event()
    error = wire.recv_event(within_ms=seconds * 1000 + 1000)
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["error"]["code"] == "session_expired"
    assert error["error"]["message"] == f"Your session hit the maximum duration of {amount}."
    closed = wire.recv(within_ms=1000)
    assert isinstance(closed, Closed)
    assert closed.code == 1001
