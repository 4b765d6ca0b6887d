"""Loading `MockConfig` from YAML and flags: names, types, precedence, did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.protocol.errors import ConfigError, UsageError
from mock_server.config import MockConfig
from mock_server.settings import config_from_args, config_from_yaml, merge


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mock.yaml"
    path.write_text(text)
    return path


def test_yaml_keys_are_config_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "port: 0\nping_interval: 5\ncompression: false\napi_keys: [sk-a, sk-b]\n"
        "text_tokens_per_second: null\nextra: {flavour: 1}\n",
    )
    config = config_from_yaml(path)
    assert config == MockConfig(
        port=0,
        ping_interval=5.0,
        compression=False,
        api_keys=("sk-a", "sk-b"),
        extra={"flavour": 1},
    )
    assert isinstance(config.ping_interval, float)


def test_yaml_typo_names_file_key_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 0\nping_intervall: 5\n")
    with pytest.raises(ConfigError) as info:
        config_from_yaml(path)
    message = str(info.value)
    assert str(path) in message
    assert "ping_intervall" in message
    assert "did you mean 'ping_interval'?" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("port: eighty\n", "expected an integer"),
        ("compression: 1\n", "expected true or false"),
        ("port: true\n", "expected an integer"),
        ("host: null\n", "got null"),
        ("api_keys: [1, 2]\n", "expected a list of strings"),
        ("- port\n", "expected a mapping"),
        ("port: [\n", "not valid YAML"),
    ],
)
def test_yaml_values_of_the_wrong_type_are_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        config_from_yaml(write(tmp_path, text))


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    assert config_from_yaml(write(tmp_path, "")) == MockConfig()


def test_dashed_yaml_keys_are_accepted(tmp_path: Path) -> None:
    assert config_from_yaml(write(tmp_path, "ping-interval: 3\n")).ping_interval == 3.0


def test_flags_are_field_names_with_dashes() -> None:
    config = config_from_args(
        [
            "--port", "0", "--ping-interval", "none", "--no-compression",
            "--api-keys", "sk-a,sk-b", "--api-keys", "sk-c", "--record", "out",
            "--extra", "mode=fast", "--extra", "n=3", "--path-prefix", "/relay",
        ]
    )  # fmt: skip
    assert config.port == 0
    assert config.ping_interval is None
    assert config.compression is False
    assert config.api_keys == ("sk-a", "sk-b", "sk-c")
    assert config.record == "out"
    assert config.extra == {"mode": "fast", "n": 3}
    assert config.path_prefix == "/relay"


def test_precedence_is_defaults_then_yaml_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 1234\nping_interval: 7\nseed: 9\n")
    config = config_from_args(["--config", str(path), "--port", "0"])
    assert (config.port, config.ping_interval, config.seed) == (0, 7.0, 9)
    assert config.host == MockConfig().host


def test_unknown_flag_gets_a_did_you_mean() -> None:
    with pytest.raises(UsageError, match="did you mean --ping-interval"):
        config_from_args(["--ping-intervall", "3"])


def test_bad_flag_value_is_rejected() -> None:
    with pytest.raises(SystemExit):
        config_from_args(["--port", "eighty"])


def test_merge_checks_names_and_types() -> None:
    assert merge(MockConfig(), {"port": 0}).port == 0
    with pytest.raises(UsageError, match="did you mean 'record'"):
        merge(MockConfig(), {"recrod": "x"})
    with pytest.raises(UsageError, match="expected a number"):
        merge(MockConfig(), {"ping_interval": "soon"})
