import pytest

from schemas import Item, Recommendations, RecommendationsView
from scoring.compact import decode, encode, record_sizes
from scoring.synthetic import overlapping_lists


def test_decode_gives_back_every_list_exactly():
    views = overlapping_lists()
    record = encode(views)
    assert decode(record) == tuple(views)
    assert decode(Recommendations.model_validate_json(record.model_dump_json())) == tuple(views)


def test_each_course_id_and_reason_is_stored_once():
    record = encode(overlapping_lists())
    held = {i.course_id for v in overlapping_lists() for i in v.items}
    assert sorted(record.courses) == sorted(held)
    assert len(set(record.reasons)) == len(record.reasons) <= 6


def test_the_served_view_of_a_channel_reads_the_compact_record():
    views = overlapping_lists(models=1)
    record = encode(views)
    for v in views:
        assert record.view(v.channel) == v


def test_compact_record_is_about_three_times_smaller_for_3_channels_x_4_models():
    compact, naive = record_sizes(overlapping_lists(models=4, k=50))
    print(f"compact {compact} B, naive {naive} B, ratio {naive / compact:.2f}")
    assert naive / compact > 3.0


def test_lists_of_different_members_or_times_are_refused():
    v = overlapping_lists(models=1)[0]
    with pytest.raises(ValueError, match="member_id"):
        encode([v, v.model_copy(update={"member_id": "someone-else"})])
    with pytest.raises(ValueError, match="no lists"):
        encode([])


def test_an_empty_list_round_trips():
    v = RecommendationsView(
        member_id="m1", channel="email", model_id="glmix-a", generated_at=1767225600000, items=()
    )
    full = v.model_copy(
        update={"channel": "feed", "items": (Item(course_id="c1", score=1.0, reason="New"),)}
    )
    assert decode(encode([v, full])) == (v, full)
