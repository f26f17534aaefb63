import pytest

from tocsin.core.event import make_event_id
from tocsin.core.flatten import flatten
from tocsin.core.schema import resolve_name_clashes


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"a": {"b": 1, "c": {"d": "x"}}}, {"a.b": 1, "a.c.d": "x"}),
        ({"a": [1, 2]}, {"a": [1, 2]}),
        ({"a": [{"x": 1}]}, {"a": '[{"x":1}]'}),
        ({"a": {}}, {}),
        ({"a.b": 1}, {"a.b": 1}),
        ({"n": None}, {"n": None}),
    ],
)
def test_flatten(obj, expected):
    assert flatten(obj) == expected


def test_case_clash_rule():
    names = ["Image", "image", "IMAGE", "other"]
    assert resolve_name_clashes(names) == ["Image", "image~2", "IMAGE~3", "other"]
    clean = ["a", "b"]
    assert resolve_name_clashes(clean) is clean


def test_case_clash_across_events_of_a_batch_is_resolved_in_the_table():
    from tocsin.lake.convert import events_to_table

    table = events_to_table([{"Image": "a"}, {"image": "b"}])
    assert table.column_names == ["Image", "image~2"]
    assert table.to_pylist() == [{"Image": "a", "image~2": None}, {"Image": None, "image~2": "b"}]


def test_event_id_is_deterministic():
    assert make_event_id("file", 10) == make_event_id("file", 10)
    assert make_event_id("file", 10) != make_event_id("file", 11)
    assert make_event_id("file", 10) != make_event_id("other", 10)
    assert make_event_id("file", 10).endswith("-10")
    assert len(make_event_id("file", "cursor=abc")) == 33
