"""The model registry (`fixtures/models.yaml`) and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.models import ModelInfo, ModelRegistry, is_realtime_model, load_registry
from conformance.protocol.errors import ConfigError

# The `model` enum of RealtimeSessionCreateRequestGA (protocol notes §8), in spec order.
SPEC_ENUM = [
    "gpt-realtime", "gpt-realtime-1.5", "gpt-realtime-2", "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini", "gpt-realtime-2025-08-28", "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01", "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03", "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17", "gpt-realtime-mini",
    "gpt-realtime-mini-2025-10-06", "gpt-realtime-mini-2025-12-15", "gpt-audio-1.5",
    "gpt-audio-mini", "gpt-audio-mini-2025-10-06", "gpt-audio-mini-2025-12-15",
]  # fmt: skip
TRANSCRIPTION = [
    "whisper-1", "gpt-transcribe", "gpt-live-transcribe", "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-transcribe", "gpt-4o-transcribe-diarize",
    "gpt-realtime-whisper",
]  # fmt: skip


def test_realtime_models_are_exactly_the_spec_enum() -> None:
    names = [m.name for m in load_registry().realtime_models]
    assert sorted(names) == sorted(SPEC_ENUM)
    assert len(names) == 19


def test_transcription_models_are_listed_separately() -> None:
    registry = load_registry()
    assert [m.name for m in registry.transcription_models] == TRANSCRIPTION
    assert not any(is_realtime_model(name) for name in TRANSCRIPTION)
    assert registry.get("whisper-1") is not None


def test_every_realtime_model_has_limits_and_a_source() -> None:
    for info in load_registry().realtime_models:
        assert (info.context_window or 0) >= 16000, info.name
        assert (info.max_output_tokens or 0) >= 2000, info.name
        assert info.source.startswith("["), info.name


def test_documented_numbers() -> None:
    registry = load_registry()
    realtime = registry.get("gpt-realtime")
    assert realtime == ModelInfo(
        name="gpt-realtime",
        kind="realtime",
        context_window=32000,
        max_output_tokens=4096,
        reasoning=False,
        alias_of="gpt-realtime-2025-08-28",
        source=realtime.source if realtime else "",
        note=realtime.note if realtime else None,
    )
    two = registry.get("gpt-realtime-2")
    assert two is not None
    assert two.reasoning
    assert two.context_window == 128000
    assert registry.resolve("gpt-realtime-mini") == registry.get("gpt-realtime-mini-2025-12-15")
    assert registry.resolve("gpt-realtime-2") is two
    assert registry.get("gpt-nope") is None
    assert registry.resolve("gpt-nope") is None


def test_default_registry_is_cached() -> None:
    assert load_registry() is load_registry()
    assert "gpt-realtime" in load_registry()
    assert len(load_registry()) == 28  # 19 realtime, 8 transcription, 1 translation


def test_translation_models_are_their_own_kind() -> None:
    registry = load_registry()
    assert [m.name for m in registry.translation_models] == ["gpt-realtime-translate"]
    assert registry.is_translation_model("gpt-realtime-translate")
    assert not registry.is_realtime_model("gpt-realtime-translate")
    assert not registry.is_translation_model("gpt-realtime")


def test_a_custom_file_can_be_loaded(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "realtime:\n  m1: {context_window: 1, max_output_tokens: 1, reasoning: false, "
        "source: x}\ntranscription:\n  t1: {source: y}\n"
    )
    registry = load_registry(path)
    assert registry.is_realtime_model("m1")
    assert not registry.is_realtime_model("t1")
    assert registry.origin == str(path)


GOOD = "  m1: {context_window: 1, max_output_tokens: 1, reasoning: false, source: x}\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[1]\n", "expected a mapping"),
        ("realtime: {}\ntranscription: {t: {source: y}}\n", "realtime: expected a non-empty"),
        (f"realtime:\n{GOOD}\n", "transcription: required key is missing"),
        (f"realtime:\n{GOOD}transcription: {{t: {{source: y}}}}\nextra: 1\n", "extra: unknown key"),
        (
            "realtime:\n  m1: {contxt_window: 1, max_output_tokens: 1, reasoning: false, "
            "source: x}\ntranscription: {t: {source: y}}\n",
            "realtime.m1.contxt_window: unknown key (did you mean 'context_window'?)",
        ),
        (
            "realtime:\n  m1: {context_window: 1, max_output_tokens: 1, source: x}\n"
            "transcription: {t: {source: y}}\n",
            "realtime.m1.reasoning: required key is missing",
        ),
        (
            "realtime:\n  m1: {context_window: many, max_output_tokens: 1, reasoning: false, "
            "source: x}\ntranscription: {t: {source: y}}\n",
            "realtime.m1.context_window: expected int",
        ),
        (
            "realtime:\n  m1: {context_window: true, max_output_tokens: 1, reasoning: false, "
            "source: x}\ntranscription: {t: {source: y}}\n",
            "realtime.m1.context_window: expected int",
        ),
        (
            "realtime:\n  m1: {context_window: 1, max_output_tokens: 1, reasoning: false, "
            "source: x, alias_of: t}\ntranscription: {t: {source: y}}\n",
            "realtime.m1.alias_of: 't' is not a realtime model",
        ),
        ("realtime: [\n", "not valid YAML"),
    ],
)
def test_badly_shaped_files_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_registry(tmp_path / "nope.yaml")


def test_duplicate_names_are_rejected() -> None:
    info = ModelInfo(name="a", kind="realtime", context_window=1, max_output_tokens=1)
    with pytest.raises(ConfigError, match="listed twice"):
        ModelRegistry([info, info])
