import pytest

from schemas import Label
from schemas.parse import trusted

VALUES = {  # deliberately not in declared order
    "propensity": 0.25,
    "member_id": "m1",
    "course_id": "c1",
    "channel": "feed",
    "label": 1,
    "source": "click",
    "impression_event_id": "i1",
    "impression_ts": 1767225600000,
    "label_ts": 1767225660000,
    "rule": "click",
    "position": 3,
    "model_id": None,
}


def test_a_trusted_record_equals_the_validated_one_byte_for_byte():
    fast, checked = trusted(Label, VALUES), Label(**VALUES)
    assert fast == checked
    assert fast.model_dump_json() == checked.model_dump_json()
    assert fast.model_fields_set == checked.model_fields_set


def test_a_trusted_record_needs_every_field():
    values = {k: v for k, v in VALUES.items() if k != "model_id"}
    with pytest.raises(ValueError, match="model_id"):
        trusted(Label, values)
