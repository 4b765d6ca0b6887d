"""The committed bundle is fresh, self-contained and free of prose; errata guard against drift."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import _json
from conformance.protocol.errors import ConfigError
from conformance.resources import schemas_dir
from conformance.schemas import _extract
from conformance.schemas._walker import SUPPORTED_KEYWORDS

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO.parent / "shared" / "reference" / "openai-openapi.yaml"
PROSE = {"description", "example", "examples", "title", "discriminator", "nullable", "oneOf"}


@pytest.fixture(scope="module")
def spec() -> tuple[dict[str, Any], bytes]:
    if not SPEC.is_file():
        pytest.skip(f"official spec not found at {SPEC}")
    return _extract.load_spec(SPEC)


@pytest.fixture(scope="module")
def errata() -> dict[str, Any]:
    return _extract.load_errata(schemas_dir() / "errata.yaml")


@pytest.fixture(scope="module")
def fresh(spec: tuple[dict[str, Any], bytes], errata: dict[str, Any]) -> dict[str, bytes]:
    return _extract.build_bundle(spec[0], spec[1], errata, spec_name=SPEC.name)


def bundle_schemas() -> Iterator[tuple[str, Any]]:
    root = schemas_dir()
    for side in ("client", "server"):
        for path in sorted((root / side).glob("*.json")):
            yield f"{side}/{path.name}", _json.loads(path.read_bytes())


def schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object (keyword position) below and including `node`."""
    if not isinstance(node, dict):
        return
    yield node
    for key, value in node.items():
        if key in ("properties", "$defs"):
            for sub in value.values():
                yield from schema_nodes(sub)
        elif key in ("anyOf", "allOf"):
            for sub in value:
                yield from schema_nodes(sub)
        elif key in ("items", "additionalProperties"):
            yield from schema_nodes(value)


def test_committed_bundle_matches_a_fresh_extraction_of_the_spec(fresh: dict[str, bytes]) -> None:
    stale = _extract.stale_files(fresh, schemas_dir())
    assert stale == [], f"run: python -m conformance.schemas extract {SPEC}"


def test_extraction_is_byte_for_byte_deterministic(
    spec: tuple[dict[str, Any], bytes], errata: dict[str, Any], fresh: dict[str, bytes]
) -> None:
    assert _extract.build_bundle(spec[0], spec[1], errata, spec_name=SPEC.name) == fresh


def test_fresh_extraction_has_eleven_client_and_forty_six_server_schemas(
    fresh: dict[str, bytes],
) -> None:
    index = _json.loads(fresh["index.json"])
    assert (len(index["client"]), len(index["server"]), len(index["documented_server_types"])) == (
        11,
        46,
        44,
    )
    assert sum(p.startswith("client/") for p in fresh) == 11
    assert sum(p.startswith("server/") for p in fresh) == 46


def test_a_stale_erratum_fails_the_extraction(
    spec: tuple[dict[str, Any], bytes], errata: dict[str, Any]
) -> None:
    broken = copy.deepcopy(errata)
    rate = next(e for e in broken["errata"] if e["id"] == "pcm-rate-24000")
    rate["changes"][0]["expect"] = {"enum": [16000]}
    with pytest.raises(ConfigError, match="pcm-rate-24000"):
        _extract.build_bundle(spec[0], spec[1], broken, spec_name=SPEC.name)


def test_an_erratum_adding_a_field_the_spec_already_has_fails(
    spec: tuple[dict[str, Any], bytes], errata: dict[str, Any]
) -> None:
    broken = copy.deepcopy(errata)
    delta = next(e for e in broken["errata"] if e["id"] == "delta-obfuscation")
    delta["changes"][0]["add_properties"] = {"delta": {"type": "string"}}
    with pytest.raises(ConfigError, match="already in the spec"):
        _extract.build_bundle(spec[0], spec[1], broken, spec_name=SPEC.name)


def test_every_erratum_has_an_id_a_description_and_evidence(errata: dict[str, Any]) -> None:
    for entry in [*errata["normalisations"], *errata["errata"]]:
        assert entry["id"], entry
        assert entry["what"], entry
        assert entry["evidence"], entry


@pytest.mark.parametrize(("name", "schema"), list(bundle_schemas()))
def test_bundle_schema_is_self_contained(name: str, schema: Any) -> None:
    defs = schema.get("$defs", {})
    for node in schema_nodes(schema):
        ref = node.get("$ref")
        if ref is not None:
            assert ref.startswith("#/$defs/"), (name, ref)
            assert ref.removeprefix("#/$defs/") in defs, (name, ref)


@pytest.mark.parametrize(("name", "schema"), list(bundle_schemas()))
def test_bundle_schema_has_no_prose_and_only_walker_keywords(name: str, schema: Any) -> None:
    for node in schema_nodes(schema):
        keywords = set(node)
        assert not keywords & PROSE, (name, keywords & PROSE)
        assert not [k for k in keywords if k.startswith("x-")], name
        assert keywords <= SUPPORTED_KEYWORDS, (name, keywords - SUPPORTED_KEYWORDS)


@pytest.mark.parametrize(("name", "schema"), list(bundle_schemas()))
def test_every_object_with_properties_is_closed(name: str, schema: Any) -> None:
    for node in schema_nodes(schema):
        if "properties" in node:
            assert node.get("additionalProperties") is False, (name, sorted(node["properties"]))
