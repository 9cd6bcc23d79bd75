import numpy as np

from models.catalog import Catalog
from models.history import course_key
from models.spec import FeatureSpec
from models.synthetic import planted_records


def test_rows_of_keys_follow_courses_added_later():
    courses, _, _ = planted_records(n_members=5, n_courses=30)
    catalog = Catalog(FeatureSpec.for_courses(courses), courses[:20])
    keys = np.array([course_key(c.course_id) for c in courses], np.uint64)
    np.testing.assert_array_equal(catalog.rows_of_keys(keys), [*range(20), *[-1] * 10])
    catalog.upsert_many(courses[25:] + courses[20:25])
    expected = [*range(20), *range(25, 30), *range(20, 25)]
    np.testing.assert_array_equal(catalog.rows_of_keys(keys), expected)
    assert Catalog(catalog.spec).rows_of_keys(keys).tolist() == [-1] * 30
