"""The public surface of `conformance.schemas`."""

from __future__ import annotations

import pytest

import conformance.schemas as schemas
from conformance.protocol.errors import UsageError


def test_all_is_sorted_and_names_only_public_attributes() -> None:
    assert schemas.__all__ == sorted(schemas.__all__)
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None


def test_event_type_constants_have_the_spec_counts() -> None:
    assert len(schemas.CLIENT_EVENT_TYPES) == 11
    assert len(schemas.SERVER_EVENT_TYPES) == 46
    assert len(schemas.DOCUMENTED_SERVER_EVENT_TYPES) == 44
    assert len(schemas.LIVE_CLIENT_TYPES) == 12


def test_documented_server_types_are_the_union_minus_the_two_beta_leftovers() -> None:
    missing = set(schemas.SERVER_EVENT_TYPES) - set(schemas.DOCUMENTED_SERVER_EVENT_TYPES)
    assert missing == {"conversation.created", "conversation.item.created"}


def test_client_types_keep_the_spec_union_order() -> None:
    assert schemas.CLIENT_EVENT_TYPES[0] == "conversation.item.create"
    assert schemas.CLIENT_EVENT_TYPES[-1] == "session.update"


def test_live_client_types_are_ga_types_plus_translation_names_minus_webrtc_only() -> None:
    live = set(schemas.LIVE_CLIENT_TYPES)
    ga = set(schemas.CLIENT_EVENT_TYPES)
    assert live - ga == {"session.close", "session.input_audio_buffer.append"}
    assert ga - live == {"output_audio_buffer.clear"}


def test_schema_for_returns_a_copy_that_callers_may_change() -> None:
    first = schemas.schema_for("client", "session.update")
    first["properties"].clear()
    assert schemas.schema_for("client", "session.update")["properties"]


def test_schema_for_an_unknown_type_suggests_the_closest_one() -> None:
    with pytest.raises(UsageError, match=r"did you mean 'response\.create'"):
        schemas.schema_for("client", "response.creat")


def test_schema_for_rejects_an_unknown_side() -> None:
    with pytest.raises(UsageError, match="side='browser'"):
        schemas.schema_for("browser", "session.update")


def test_bundle_info_names_the_spec_version_and_hash() -> None:
    info = schemas.bundle_info()
    assert info["spec"]["version"] == "2.3.0"
    assert len(info["spec"]["sha256"]) == 64
    assert (info["client_types"], info["server_types"], info["documented_server_types"]) == (
        11,
        46,
        44,
    )
    assert "pcm-rate-24000" in info["errata"]


def test_an_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = schemas.NOT_A_CONSTANT
