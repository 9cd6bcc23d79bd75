"""Rule strings: parsing, canonical form, one-line errors."""

from __future__ import annotations

import pytest

from labels import DEFAULT_RULE, Rule


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("fixed:9", "fixed:9"),
        ("fixed:19.0", "fixed:19"),
        ("fixed:0", "fixed:0"),
        ("fraction:0.5", "fraction:0.5"),
        ("fraction:1", "fraction:1"),
        ("percentile:95:member", "percentile:95:member"),
        ("percentile:95:member:30d", "percentile:95:member"),
        ("percentile:99.5:global:7d", "percentile:99.5:global:7d"),
        (" percentile:50:video ", "percentile:50:video"),
    ],
)
def test_rule_strings_parse_to_their_canonical_form(text, canonical):
    rule = Rule.parse(text)
    assert str(rule) == canonical
    assert Rule.parse(str(rule)) == rule


def test_default_rule_is_member_95th_percentile_over_30_days():
    assert (DEFAULT_RULE.value, DEFAULT_RULE.scope, DEFAULT_RULE.window_days) == (95, "member", 30)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected fixed:<seconds>"),
        ("click", "expected fixed:<seconds>"),
        ("fixed", "expected fixed:<seconds>"),
        ("fixed:9:member", "expected fixed:<seconds>"),
        ("fixed:-1", "seconds must be in [0, inf)"),
        ("fixed:nine", "seconds 'nine' is not a number"),
        ("fixed:nan", "seconds must be finite"),
        ("fraction:0", "fraction must be in (0, 1]"),
        ("fraction:1.1", "fraction must be in (0, 1]"),
        ("percentile:95", "expected fixed:<seconds>"),
        ("percentile:0:member", "percentile must be in (0, 100]"),
        ("percentile:101:member", "percentile must be in (0, 100]"),
        ("percentile:95:team", "scope must be member, video or global"),
        ("percentile:95:member:30", "window '30' must look like 30d"),
        ("percentile:95:member:0d", "window must be 1d..366d"),
    ],
)
def test_bad_rule_is_a_one_line_value_error_naming_rule_and_reason(text, reason):
    with pytest.raises(ValueError) as info:
        Rule.parse(text)
    message = str(info.value)
    assert message.startswith(f"bad autoplay rule {text!r}: ")
    assert reason in message and "\n" not in message
