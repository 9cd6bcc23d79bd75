import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from scoring.treatments import Treatments, unit_hash

MEMBERS = [f"m{i}" for i in range(100_000)]
SPLITS = {"feed": {"glmix-a": 0.5, "glmix-b": 0.3, "glmix-c": 0.2}, "email": {"glmix-a": 1.0}}


def test_unit_hash_is_the_same_in_another_process_with_another_hash_seed():
    code = "from scoring.treatments import unit_hash; print(repr(unit_hash('m42', 'feed')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": "."},
    ).stdout
    assert float(out) == unit_hash("m42", "feed")


def test_unit_hash_is_pinned_so_a_code_change_cannot_reshuffle_live_experiments():
    assert unit_hash("m42", "feed") == 0.06585800912487705


def test_assignment_is_stable_across_calls_and_instances():
    a, b = Treatments(SPLITS, "exp"), Treatments(dict(SPLITS), "exp")
    assert [a.assign(m) for m in MEMBERS[:1000]] == [b.assign(m) for m in MEMBERS[:1000]]


def test_shares_are_within_one_percent_of_the_configured_split_on_100k_members():
    t = Treatments(SPLITS, "exp")
    counts = Counter(t.variant(m, "feed") for m in MEMBERS)
    for variant, share in SPLITS["feed"].items():
        assert counts[variant] / len(MEMBERS) == pytest.approx(share, abs=0.01)
    assert {t.variant(m, "email") for m in MEMBERS[:1000]} == {"glmix-a"}


def test_different_experiment_names_assign_independently():
    u1 = np.array([unit_hash(m, "feed-v1") for m in MEMBERS])
    u2 = np.array([unit_hash(m, "feed-v2") for m in MEMBERS])
    assert abs(np.corrcoef(u1, u2)[0, 1]) < 0.01
    both_a = np.mean((u1 < 0.5) & (u2 < 0.5))  # independent halves: a quarter in both
    assert both_a == pytest.approx(0.25, abs=0.01)


def test_channels_of_one_experiment_are_assigned_independently():
    t = Treatments({"feed": {"a": 0.5, "b": 0.5}, "email": {"a": 0.5, "b": 0.5}}, "exp")
    same = np.mean([len(set(t.assign(m).values())) == 1 for m in MEMBERS[:20_000]])
    assert same == pytest.approx(0.5, abs=0.02)


def test_a_variant_with_zero_share_is_never_assigned():
    t = Treatments({"feed": {"off": 0.0, "a": 0.6, "b": 0.4, "off2": 0.0}})
    assert {t.variant(m, "feed") for m in MEMBERS[:5000]} == {"a", "b"}


def test_a_split_with_one_live_variant_assigns_it_whatever_the_others_and_rounding():
    t = Treatments({"feed": {"off": 0.0, "a": 1.0 - 1e-12, "off2": 0.0}})
    assert {t.variant(m, "feed") for m in MEMBERS[:1000]} == {"a"}


@pytest.mark.parametrize(
    "split", [{"a": 0.5, "b": 0.4}, {"a": 0.7, "b": 0.7}, {}, {"a": 1.5, "b": -0.5}]
)
def test_splits_that_are_not_a_distribution_are_refused(split):
    with pytest.raises(ValueError, match="feed"):
        Treatments({"feed": split})


def test_an_unconfigured_channel_is_a_key_error():
    with pytest.raises(KeyError):
        Treatments(SPLITS).variant("m1", "learning_home")
