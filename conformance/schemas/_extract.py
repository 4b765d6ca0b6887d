"""Extract the GA event schemas from the official OpenAPI spec into `fixtures/schemas/`.

Run it as `python -m conformance.schemas extract SPEC [--out DIR] [--check]`. The output is
one self-contained draft 2020-12 schema per GA event type plus `index.json`; it depends
only on the spec bytes and `errata.yaml`, and is written with sorted keys and a fixed
indent so that a staleness test can compare bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from conformance.protocol.errors import ConfigError
from conformance.schemas import _errata
from conformance.schemas import _transform as tf

GENERATOR_NAME = "conformance.schemas"
GENERATOR_VERSION = "1"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
SPEC_PREFIX = "#/components/schemas/"
DEFS_PREFIX = "#/$defs/"
UNIONS = {"client": "RealtimeClientEvent", "server": "RealtimeServerEvent"}
# The translations endpoint (`/v1/realtime/translations`) has its own unions; its schemas
# go to `translation/client/`, `translation/server/` and the `translation` section of
# index.json (`session.update` exists on both endpoints, with different shapes).
TRANSLATION_UNIONS = {
    "client": "RealtimeTranslationClientEvent",
    "server": "RealtimeTranslationServerEvent",
}
TRANSLATION_DIR = "translation"
# The REST bodies of the client-secret endpoints (mock_server/rest.py): request and
# response schemas by file name, each built with the errata of the WebSocket side whose
# session shapes it carries (a request like a client event, a response like a server one).
REST_DIR = "rest"
REST_SCHEMAS = {
    "client_secrets.request": ("RealtimeCreateClientSecretRequest", "client"),
    "client_secrets.response": ("RealtimeCreateClientSecretResponse", "server"),
    "translations.client_secrets.request": (
        "RealtimeTranslationClientSecretCreateRequest",
        "translation_client",
    ),
    "translations.client_secrets.response": (
        "RealtimeTranslationClientSecretCreateResponse",
        "translation_server",
    ),
    # SIP call control (mock_server/sip.py): accept takes a session configuration
    "calls.accept.request": ("RealtimeSessionCreateRequestGA", "client"),
    "calls.reject.request": ("RealtimeCallRejectRequest", "client"),
    "calls.refer.request": ("RealtimeCallReferRequest", "client"),
}
DOCUMENTED_GROUP = "realtime-server-events"
# Generated files live under these names; anything else in the folder is hand-written data.
GENERATED_DIRS = ("client", "server", "translation/client", "translation/server", REST_DIR)
INDEX_FILE = "index.json"


def _load_yaml(path: Path, raw: bytes) -> Any:
    try:
        return yaml.load(raw, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_spec(path: Path) -> tuple[dict[str, Any], bytes]:
    """The parsed spec and its raw bytes (for the sha256 recorded in index.json)."""
    raw = path.read_bytes()
    spec = _load_yaml(path, raw)
    if not isinstance(spec, dict) or "components" not in spec:
        raise ConfigError(f"{path}: not an OpenAPI document (no components)")
    return spec, raw


def load_errata(path: Path) -> dict[str, Any]:
    """The parsed errata file (`fixtures/schemas/errata.yaml`)."""
    data = _load_yaml(path, path.read_bytes())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return data


def dump_json(obj: Any) -> bytes:
    """Deterministic pretty JSON: sorted keys, two-space indent, trailing newline."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def build_bundle(
    spec: Mapping[str, Any], spec_bytes: bytes, errata: Mapping[str, Any], *, spec_name: str
) -> dict[str, bytes]:
    """Every generated file of the bundle, as relative path -> bytes.

    Args:
        spec: The parsed OpenAPI document.
        spec_bytes: Its raw bytes (hashed into index.json).
        errata: The parsed errata file.
        spec_name: The spec's file name, recorded in index.json.
    """
    schemas = spec["components"]["schemas"]
    entries = _errata.check_errata(errata)
    normalisations = _normalisations(errata)
    files: dict[str, bytes] = {}
    index: dict[str, Any] = {"client": {}, "server": {}, "schema_names": {}}
    kept_open: set[tuple[str, str]] = set()
    for side, union in UNIONS.items():
        members = _union_members(schemas, union)
        components = _side_components(schemas, members, entries, normalisations, side, kept_open)
        index[f"{side}_types"] = [event_type for event_type, _ in members]
        index["schema_names"][side] = dict(members)
        for event_type, name in members:
            path = f"{side}/{event_type}.json"
            files[path] = dump_json(_event_schema(components, name))
            index[side][event_type] = path
    translation: dict[str, Any] = {"client": {}, "server": {}, "schema_names": {}}
    for side, union in TRANSLATION_UNIONS.items():
        # A spec from before translation sessions has no such union: an empty section.
        members = _union_members(schemas, union) if union in schemas else []
        section = f"{TRANSLATION_DIR}_{side}"
        components = _side_components(schemas, members, entries, normalisations, section, kept_open)
        translation[f"{side}_types"] = [event_type for event_type, _ in members]
        translation["schema_names"][side] = dict(members)
        for event_type, name in members:
            path = f"{TRANSLATION_DIR}/{side}/{event_type}.json"
            files[path] = dump_json(_event_schema(components, name))
            translation[side][event_type] = path
    index[TRANSLATION_DIR] = translation
    sections = {
        "client": list(index["schema_names"]["client"].values()),
        "server": list(index["schema_names"]["server"].values()),
        "translation_client": list(translation["schema_names"]["client"].values()),
        "translation_server": list(translation["schema_names"]["server"].values()),
    }
    rest: dict[str, Any] = {}
    for file_name, (name, section) in REST_SCHEMAS.items():
        if name not in schemas:  # a spec from before these endpoints: no such schema
            continue
        roots = [(name, name)] + [(n, n) for n in sections[section]]
        components = _side_components(schemas, roots, entries, normalisations, section, kept_open)
        path = f"{REST_DIR}/{file_name}.json"
        files[path] = dump_json(_event_schema(components, name))
        rest[file_name] = path
    index[REST_DIR] = rest
    _check_keep_open(normalisations["close_objects"], kept_open)
    index.update(_index_header(spec, spec_bytes, spec_name, entries))
    index.update(_index_live_data(spec, entries, index["schema_names"]["server"]))
    files[INDEX_FILE] = dump_json(index)
    return files


def _check_keep_open(close: Mapping[str, Any], found: set[tuple[str, str]]) -> None:
    wanted = {(item["schema"], item["at"]) for item in close.get("keep_open", ())}
    if missing := sorted(wanted - found):
        raise ConfigError(f"errata.yaml: keep_open entries match no schema: {missing}")


def _normalisations(errata: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = {n.get("transform"): n for n in errata.get("normalisations", ())}
    wanted = {"strip_annotations", "nullable_to_null", "one_of_to_any_of", "close_objects"}
    if missing := wanted - set(found):
        raise ConfigError(f"errata.yaml: normalisations missing {sorted(missing)}")
    return found


def _union_members(schemas: Mapping[str, Any], union: str) -> list[tuple[str, str]]:
    members = []
    for branch in schemas[union].get("anyOf") or schemas[union]["oneOf"]:
        name = branch["$ref"].removeprefix(SPEC_PREFIX)
        type_schema = schemas[name]["properties"]["type"]
        values = type_schema.get("enum") or [type_schema["const"]]
        members.append((values[0], name))
    return members


def _closure(schemas: Mapping[str, Any], roots: list[str]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(tf.collect_refs(schemas[name], SPEC_PREFIX))
    return sorted(seen)


def _side_components(
    schemas: Mapping[str, Any],
    members: list[tuple[str, str]],
    entries: list[Mapping[str, Any]],
    normalisations: Mapping[str, Mapping[str, Any]],
    side: str,
    kept_open: set[tuple[str, str]],
) -> dict[str, Any]:
    strip = normalisations["strip_annotations"]
    components: dict[str, Any] = {}
    for name in _closure(schemas, [n for _, n in members]):
        node = tf.strip_annotations(schemas[name], strip["keys"], strip["prefixes"])
        node = tf.one_of_to_any_of(node)
        components[name] = tf.nullable_to_null(node)
    components = _errata.apply_errata(components, entries, side)
    close = normalisations["close_objects"]
    if side not in close.get("sides", ()):
        return components
    keep_open: dict[str, set[str]] = {}
    for item in close.get("keep_open", ()):
        name, pointer = item["schema"], item["at"]
        if name in components:
            try:
                tf.resolve_pointer(components[name], pointer)
            except (KeyError, IndexError, TypeError):
                raise ConfigError(
                    f"errata.yaml: keep_open {name}{pointer} does not exist"
                ) from None
            keep_open.setdefault(name, set()).add(pointer)
            kept_open.add((name, pointer))
    return {
        name: tf.close_objects(node, keep_open.get(name, set()))
        for name, node in components.items()
    }


def _event_schema(components: Mapping[str, Any], name: str) -> dict[str, Any]:
    root = components[name]
    defs = {n: components[n] for n in _closure(components, [name]) if n != name}
    event = {"$schema": DIALECT, **root}
    if defs:
        event["$defs"] = defs
    result: dict[str, Any] = tf.rewrite_refs(event, SPEC_PREFIX, DEFS_PREFIX)
    return result


def _index_header(
    spec: Mapping[str, Any], spec_bytes: bytes, spec_name: str, entries: list[Mapping[str, Any]]
) -> dict[str, Any]:
    info = spec.get("info", {})
    return {
        "dialect": DIALECT,
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "spec": {
            "file": spec_name,
            "openapi": spec.get("openapi"),
            "sha256": hashlib.sha256(spec_bytes).hexdigest(),
            "title": info.get("title"),
            "version": info.get("version"),
        },
        "errata": [e["id"] for e in entries],
    }


def _index_live_data(
    spec: Mapping[str, Any], entries: list[Mapping[str, Any]], server_names: Mapping[str, str]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for entry in entries:
        for key, value in entry.get("index", {}).items():
            if key in data:
                raise ConfigError(f"errata.yaml: index key {key!r} given twice")
            data[key] = value
    silent = set(data.pop("not_emitted_by_live", ()))
    if unknown := silent - set(server_names):
        raise ConfigError(f"errata.yaml: not_emitted_by_live names unknown types {sorted(unknown)}")
    data["emitted_by_live"] = {t: t not in silent for t in server_names}
    documented = _documented_names(spec)
    data["documented_server_types"] = [t for t, n in server_names.items() if n in documented]
    return data


def _documented_names(spec: Mapping[str, Any]) -> set[str]:
    for group in spec.get("x-oaiMeta", {}).get("groups", ()):
        if group.get("id") == DOCUMENTED_GROUP:
            return {section["key"] for section in group.get("sections", ())}
    raise ConfigError(f"spec has no x-oaiMeta group {DOCUMENTED_GROUP!r}")


def generated_paths(out_dir: Path) -> set[str]:
    """Relative paths of the generated files currently in `out_dir`."""
    found = {INDEX_FILE} if (out_dir / INDEX_FILE).exists() else set()
    for sub in GENERATED_DIRS:
        if (out_dir / sub).is_dir():
            found.update(f"{sub}/{p.name}" for p in (out_dir / sub).glob("*.json"))
    return found


def stale_files(files: Mapping[str, bytes], out_dir: Path) -> list[str]:
    """Generated paths whose bytes on disk differ from `files`, plus leftovers; sorted."""
    stale = {
        p for p in files if not (out_dir / p).is_file() or (out_dir / p).read_bytes() != files[p]
    }
    stale |= generated_paths(out_dir) - set(files)
    return sorted(stale)


def write_bundle(files: Mapping[str, bytes], out_dir: Path) -> list[str]:
    """Write `files` under `out_dir`, delete generated leftovers; return the paths changed."""
    changed = stale_files(files, out_dir)
    for rel in changed:
        target = out_dir / rel
        if rel in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[rel])
        else:
            target.unlink()
    return changed
