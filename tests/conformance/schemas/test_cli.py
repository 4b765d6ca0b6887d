"""`python -m conformance.schemas extract` on a small synthetic spec (no official spec needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import _json
from conformance.schemas.__main__ import main

REF = "#/components/schemas/"


def event(event_type: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Prose that must not reach the bundle.",
        "properties": {
            "type": {"type": "string", "enum": [event_type], "x-stainless-const": True},
            **properties,
        },
        "required": ["type"],
    }


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Mini", "version": "0.0.1"},
    "x-oaiMeta": {"groups": [{"id": "realtime-server-events", "sections": [{"key": "Done"}]}]},
    "components": {
        "schemas": {
            "RealtimeClientEvent": {"anyOf": [{"$ref": f"{REF}Ping"}]},
            "RealtimeServerEvent": {"anyOf": [{"$ref": f"{REF}Done"}, {"$ref": f"{REF}Old"}]},
            "Ping": event(
                "ping",
                description={"type": "string", "nullable": True, "description": "a field named so"},
                mode={"oneOf": [{"type": "string"}, {"$ref": f"{REF}Mode"}]},
                meta={"type": "object"},
            ),
            "Mode": {"type": "string", "enum": ["a", "b"], "title": "Mode"},
            "Done": event("done"),
            "Old": event("old"),
        }
    },
}
ERRATA: dict[str, Any] = {
    "version": 1,
    "normalisations": [
        {"id": "s", "what": "w", "evidence": "e", "transform": "strip_annotations",
         "keys": ["description", "title"], "prefixes": ["x-"]},
        {"id": "n", "what": "w", "evidence": "e", "transform": "nullable_to_null"},
        {"id": "o", "what": "w", "evidence": "e", "transform": "one_of_to_any_of"},
        {"id": "c", "what": "w", "evidence": "e", "transform": "close_objects",
         "sides": ["client"]},
    ],
    "errata": [
        {"id": "old", "what": "w", "evidence": "e", "side": "server",
         "index": {"not_emitted_by_live": ["old"]}},
        {"id": "ping-mode", "what": "w", "evidence": "e", "side": "client",
         "changes": [{"schema": "Ping", "at": "/properties/mode/anyOf/0",
                      "set": {"maxLength": 3}}]},
    ],
}  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    spec, errata, out = tmp_path / "spec.yaml", tmp_path / "errata.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(SPEC))
    errata.write_text(yaml.safe_dump(ERRATA))
    return spec, errata, out


def run(spec: Path, errata: Path, out: Path, *extra: str) -> int:
    return main(["extract", str(spec), "--out", str(out), "--errata", str(errata), *extra])


def test_check_fails_on_an_empty_folder_and_passes_after_extraction(
    files: tuple[Path, Path, Path],
) -> None:
    spec, errata, out = files
    assert run(spec, errata, out, "--check") == 1
    assert run(spec, errata, out) == 0
    assert run(spec, errata, out, "--check") == 0


def test_check_notices_an_edited_file_and_extraction_removes_leftovers(
    files: tuple[Path, Path, Path],
) -> None:
    spec, errata, out = files
    run(spec, errata, out)
    (out / "client" / "ping.json").write_text("{}\n")
    (out / "server" / "gone.json").write_text("{}\n")
    assert run(spec, errata, out, "--check") == 1
    assert run(spec, errata, out) == 0
    assert not (out / "server" / "gone.json").exists()
    assert run(spec, errata, out, "--check") == 0


def test_extracted_schema_is_normalised_and_keeps_a_property_named_description(
    files: tuple[Path, Path, Path],
) -> None:
    spec, errata, out = files
    run(spec, errata, out)
    ping = _json.loads((out / "client" / "ping.json").read_bytes())
    assert ping["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert ping["additionalProperties"] is False
    assert "description" not in {k for k in ping if k != "properties"}
    assert ping["properties"]["description"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert ping["properties"]["mode"] == {
        "anyOf": [{"type": "string", "maxLength": 3}, {"$ref": "#/$defs/Mode"}]
    }
    assert ping["properties"]["meta"] == {"type": "object"}
    assert ping["$defs"] == {"Mode": {"type": "string", "enum": ["a", "b"]}}
    assert ping["properties"]["type"] == {"type": "string", "enum": ["ping"]}


def test_index_records_the_spec_documented_types_and_live_emission(
    files: tuple[Path, Path, Path],
) -> None:
    spec, errata, out = files
    run(spec, errata, out)
    index = _json.loads((out / "index.json").read_bytes())
    assert index["spec"]["title"] == "Mini"
    assert index["spec"]["version"] == "0.0.1"
    assert len(index["spec"]["sha256"]) == 64
    assert index["client"] == {"ping": "client/ping.json"}
    assert index["server_types"] == ["done", "old"]
    assert index["documented_server_types"] == ["done"]
    assert index["emitted_by_live"] == {"done": True, "old": False}
    assert index["errata"] == ["old", "ping-mode"]


def test_a_keep_open_entry_that_matches_nothing_is_an_error(
    files: tuple[Path, Path, Path], capsys: Any
) -> None:
    spec, errata, out = files
    close = {
        **ERRATA["normalisations"][3],
        "keep_open": [{"schema": "Gone", "at": "/properties/x"}],
    }
    broken = {**ERRATA, "normalisations": [*ERRATA["normalisations"][:3], close]}
    errata.write_text(yaml.safe_dump(broken))
    assert run(spec, errata, out) == 2
    assert "keep_open" in capsys.readouterr().err


def test_an_erratum_naming_a_missing_node_is_an_error(
    files: tuple[Path, Path, Path], capsys: Any
) -> None:
    spec, errata, out = files
    change = {"schema": "Ping", "at": "/properties/nope", "set": {}}
    broken = {
        **ERRATA,
        "errata": [{"id": "bad", "what": "w", "evidence": "e", "changes": [change]}],
    }
    errata.write_text(yaml.safe_dump(broken))
    assert run(spec, errata, out) == 2
    assert "bad" in capsys.readouterr().err


def test_invalid_yaml_in_the_errata_file_is_reported_not_raised(
    files: tuple[Path, Path, Path], capsys: Any
) -> None:
    spec, errata, out = files
    errata.write_text("errata: [unclosed\n")
    assert run(spec, errata, out) == 2
    assert "not valid YAML" in capsys.readouterr().err
