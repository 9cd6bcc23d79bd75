from dataclasses import fields
from pathlib import Path

import pytest

from nearline.config import _CODECS, Settings, env_name


def test_every_setting_survives_the_trip_through_a_child_environment(tmp_path: Path):
    settings = Settings(
        bootstrap="127.0.0.1:1",
        channels=frozenset({"x", "y"}),
        partitions=3,
        data_dir=tmp_path,
        model_dir=tmp_path / "models",
        lateness_s=5.5,
        treatments='{"x": {"popular": 1}}',
        rescore_ms=7.0,
    )
    env = settings.to_env()
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1" and env["NEARLINE_CHANNELS"] == "x,y"
    assert Settings.from_env(env) == settings
    assert Settings.from_env(Settings().to_env()) == Settings()  # model_dir None included


def test_unset_or_empty_variables_keep_the_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({env_name("top_k"): "", env_name("channels"): ""}) == Settings()


def test_a_bad_value_names_its_variable():
    with pytest.raises(ValueError, match="NEARLINE_TOP_K='ten' is not a valid top_k"):
        Settings.from_env({"NEARLINE_TOP_K": "ten"})


def test_every_field_that_may_be_none_has_a_codec():
    """A field defaulting to None cannot be decoded by its default's type."""
    assert {f.name for f in fields(Settings) if f.default is None} <= set(_CODECS)


def test_the_future_bound_is_read_from_the_environment_into_the_parser_bounds():
    settings = Settings.from_env({"NEARLINE_MAX_FUTURE_S": "60", "NEARLINE_CHANNELS": "a,b"})
    bounds = settings.bounds()
    assert (bounds.max_future_ms, bounds.channels) == (60_000, frozenset({"a", "b"}))
    assert Settings().bounds().max_future_ms == 3_600_000
