import pytest

from tocsin.core.event import make_event_id
from tocsin.core.flatten import flatten
from tocsin.core.schema import resolve_case_clashes


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
    event = {"Image": "a", "image": "b", "IMAGE": "c", "other": 1}
    assert resolve_case_clashes(event) == {"Image": "a", "image~2": "b", "IMAGE~3": "c", "other": 1}
    clean = {"a": 1, "b": 2}
    assert resolve_case_clashes(clean) is clean


def test_event_id_is_deterministic():
    assert make_event_id("file", 10) == make_event_id("file", 10)
    assert make_event_id("file", 10) != make_event_id("file", 11)
    assert make_event_id("file", 10) != make_event_id("other", 10)
    assert len(make_event_id("file", 10)) == 32
