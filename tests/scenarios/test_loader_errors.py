"""Scenario files with mistakes: the error names the file, the right line and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.scenarios import ScenarioError, load_scenario

GOOD = """\
id: {id}
summary: a scenario with one rule
catalog: EARLY-CLOSE
sources: [https://community.openai.com/t/realtime-session-automatically-closed-after-session-update/1154294]
description: used by the loader tests
expect:
  client: [surfaces_close_code_and_reason]
  summary: the client reports the close
config:
  session_max_duration: 30
rules:
  - when: {on: client_event, match: {type: session.update}}
    do:
      - error: {message: "rejected in {session_id}"}
      - close: {code: 1000}
"""
# Line numbers in GOOD: 2 summary, 10 session_max_duration, 12 when, 14 error, 15 close.


def write(tmp_path: Path, text: str, name: str = "sample") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("{id}", name))
    return path


def error_for(tmp_path: Path, old: str, new: str) -> str:
    good = GOOD.replace("{id}", "sample")
    assert old in good, old
    path = write(tmp_path, good.replace(old, new, 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value)


def test_the_unmodified_sample_loads(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, GOOD))
    assert loaded.id == "sample"
    assert loaded.rules[0].do[1].line == 15


# (old text, new text, line of the mistake, message after "file:line: ")
MISSPELT = [
    ("- close:", "- clsoe:", 15,
     "unknown action 'clsoe' at rules[0].do[1]; did you mean 'close'?"),
    ("on: client_event", "on: client_evnt", 12,
     "unknown trigger 'client_evnt' at rules[0].when.on; did you mean 'client_event'?"),
    ("summary: a scenario", "sumary: a scenario", 2,
     "unknown key 'sumary' at (top level); did you mean 'summary'?"),
    ("    do:", "    doo:", 13,
     "unknown key 'doo' at rules[0]; did you mean 'do'?"),
    ("{code: 1000}", "{cod: 1000}", 15,
     "unknown key 'cod' at rules[0].do[1].close; did you mean 'code'?"),
    ("match: {type: session.update}", "match: {type: session.updat}", 12,
     "unknown client event type 'session.updat' at rules[0].when.match.type; "
     "did you mean 'session.update'?"),
    ("match: {type:", "match: {type__exist: true, type:", 12,
     "unknown lookup 'exist' in 'type__exist'; did you mean 'exists'?"),
    ("{session_id}", "{sesion_id}", 14,
     "unknown placeholder {sesion_id}; did you mean 'session_id'?"),
    ("session_max_duration: 30", "session_max_duraton: 30", 10,
     "unknown MockConfig field 'session_max_duraton' at config; "
     "did you mean 'session_max_duration'?"),
    ("catalog: EARLY-CLOSE", "catalog: EARLY-CLOS", 3,
     "unknown catalog id 'EARLY-CLOS' at catalog; did you mean 'EARLY-CLOSE'?"),
    ("[surfaces_close_code_and_reason]", "[surfaces_close_code_and_reasons]", 7,
     "unknown expectation 'surfaces_close_code_and_reasons' at expect.client[0]; "
     "did you mean 'surfaces_close_code_and_reason'?"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "line", "expected"), MISSPELT)
def test_a_misspelt_name_is_reported_with_file_line_path_and_did_you_mean(
    tmp_path: Path, old: str, new: str, line: int, expected: str
) -> None:
    message = error_for(tmp_path, old, new)
    assert message.splitlines()[0].endswith(f"sample.yaml:{line}: {expected}")


def test_a_misspelt_server_event_type_in_send_is_reported(tmp_path: Path) -> None:
    message = error_for(
        tmp_path,
        '- error: {message: "rejected in {session_id}"}',
        "- send: {type: response.output_txt.delta}",
    )
    assert "sample.yaml:14: unknown server event type 'response.output_txt.delta'" in message
    assert "did you mean 'response.output_text.delta'?" in message


def test_a_yaml_syntax_error_reports_file_and_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, "- close: {code: 1000}", "- close: {code: 1000")
    assert "sample.yaml:16: YAML syntax error" in message


def test_a_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    message = error_for(tmp_path, "{code: 1000}", "{code: '1000'}")
    assert (
        "sample.yaml:15: expected integer at rules[0].do[1].close.code, got string '1000'"
        in message
    )


def test_a_duplicate_key_is_an_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, "catalog: EARLY-CLOSE\n", "catalog: EARLY-CLOSE\ncatalog: AUTH\n")
    assert "sample.yaml:4: duplicate key 'catalog' at (top level)" in message


def test_an_action_with_two_names_is_an_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, "- close: {code: 1000}", "- close: {code: 1000}\n        drop:")
    assert "sample.yaml:15: an action is a mapping with exactly one key" in message


def test_the_id_must_equal_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{id}", "other"), name="sample")
    with pytest.raises(ScenarioError, match=r"sample\.yaml:1: id 'other' must equal the file name"):
        load_scenario(path)


# (old text, new text, part of the message)
SEMANTIC = [
    ("session_max_duration: 30", "session_max_duration: fast",
     "expected float at config.session_max_duration, got 'fast'"),
    ("session_max_duration: 30", "port: 9000", "config.port belongs to the listener"),
    ("{code: 1000}", "{code: 1006}", "close code 1006 cannot be sent in a close frame; use drop"),
    ("      - close: {code: 1000}", "      - close: {code: 1000}\n      - drop:",
     "'drop' can never run: it follows 'close'"),
    ("match: {type: session.update}}", "match: {type: session.update}, nth: 2, every: true}",
     "use either nth or every: true, not both"),
    ("on: client_event, match: {type: session.update}", "on: connect", "consume only applies"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), SEMANTIC)
def test_semantic_mistakes_are_explained(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = (
        GOOD
        if "consume" not in expected
        else GOOD.replace("- error:", "- consume:\n      - error:")
    )
    path = write(tmp_path, text.replace("{id}", "sample").replace(old, new, 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "sample.yaml:" in str(caught.value)
    assert expected in str(caught.value)


def test_config_overrides_are_converted_for_mock_config(tmp_path: Path) -> None:
    text = GOOD.replace("session_max_duration: 30", "session_max_duration: 1\n  api_keys: [sk-a]")
    loaded = load_scenario(write(tmp_path, text))
    assert dict(loaded.config) == {"session_max_duration": 1.0, "api_keys": ("sk-a",)}
    from mock_server.config import MockConfig

    applied = loaded.apply_config(MockConfig(port=0))
    assert applied.session_max_duration == 1.0
    assert applied.api_keys == ("sk-a",)
    assert applied.port == 0


def test_on_yes_and_no_stay_strings(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, GOOD.replace("rejected in", "no")))
    assert loaded.rules[0].when.on == "client_event"
    assert loaded.rules[0].do[0].args["message"] == "no {session_id}"


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ScenarioError, match=r"empty\.yaml:1: a scenario is a mapping"):
        load_scenario(path)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.yaml")


def _without_catalog_and_sources(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(("catalog:", "sources:")))


def test_a_users_own_scenario_needs_no_catalog_id_or_sources(tmp_path: Path) -> None:
    """A private incident reproduction has no catalog entry and no public evidence."""
    path = write(tmp_path, _without_catalog_and_sources(GOOD), name="incident-4711")
    loaded = load_scenario(path)
    assert (loaded.catalog, loaded.sources) == (None, ())
    empty = write(tmp_path, GOOD.replace("sources: [https", "sources: []\n#"), name="empty")
    assert load_scenario(empty).sources == ()


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("catalog: EARLY-CLOSE\n", "", "catalog"),
        ("sources: [https", "sources: []\n# [https", "sources"),
    ],
)
def test_a_builtin_scenario_still_needs_its_catalog_id_and_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, key: str
) -> None:
    from mock_server.scenarios import loader

    monkeypatch.setattr(loader, "scenarios_dir", lambda: tmp_path)  # tmp_path is the catalog
    path = write(tmp_path, GOOD.replace(old, new, 1), name="builtin-sample")
    with pytest.raises(ScenarioError, match=rf"missing required key '{key}'.*built-in"):
        load_scenario(path)
    monkeypatch.undo()
    assert load_scenario(path).id == "builtin-sample"  # the same file outside the catalog


def test_a_builtin_feature_scenario_needs_no_catalog_id_but_not_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mock_server.scenarios import loader

    monkeypatch.setattr(loader, "scenarios_dir", lambda: tmp_path)  # tmp_path is the catalog
    text = GOOD.replace("catalog: EARLY-CLOSE\n", "feature: translation\nendpoint: translation\n")
    text = text.replace("sources: [https", "# [https")
    loaded = load_scenario(write(tmp_path, text, name="feature-sample"))
    assert (loaded.feature, loaded.catalog, loaded.sources) == ("translation", None, ())
    assert loaded.endpoint == "translation"
    assert loaded.translation
    both = GOOD.replace("catalog: EARLY-CLOSE\n", "catalog: EARLY-CLOSE\nfeature: translation\n")
    with pytest.raises(ScenarioError, match=r"builtin-both.yaml:4: give either catalog"):
        load_scenario(write(tmp_path, both, name="builtin-both"))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("endpoint", "translations", "translations"),
        ("feature", "mcp", "mcp"),
    ],
)
def test_endpoint_and_feature_are_closed_vocabularies(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    text = GOOD.replace("{id}", "sample").replace("summary:", f"{key}: {value}\nsummary:", 1)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path, text))
    assert load_scenario(write(tmp_path, GOOD, name="plain")).endpoint == "realtime"
