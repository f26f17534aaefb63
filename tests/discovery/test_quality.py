"""Quality on labelled data: presidio-research's sentences (when ../shared is there)."""

from __future__ import annotations

import json

import pytest

from tocsin.discovery.engine import Scanner
from tocsin.discovery.evaluate import PRESIDIO_TYPES, evaluate, presidio_samples
from tocsin.discovery.rules import load_rules


@pytest.fixture(scope="module")
def presidio_scores(request):
    shared = request.getfixturevalue("shared_data")
    path = shared / "pii" / "synth_dataset_v2.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    records = json.loads(path.read_text())
    scanner = Scanner(load_rules(), categories=("pii",))
    return evaluate(scanner, presidio_samples(records), PRESIDIO_TYPES.values())


@pytest.mark.parametrize("kind", ["EMAIL", "IBAN", "IP_ADDRESS", "US_SSN"])
def test_perfect_where_presidio_is_perfect(presidio_scores, kind: str) -> None:
    score = presidio_scores[kind]
    assert (score.precision, score.recall) == (1.0, 1.0), (score.false_positives, score.missed)


def test_cards_and_phones_beat_presidio(presidio_scores) -> None:
    # Presidio's regex-only results on the same data: cards 1.00 / 0.77, phones 0.73 / 0.59
    cards, phones = presidio_scores["CREDIT_CARD"], presidio_scores["PHONE"]
    assert cards.precision == 1.0 and cards.recall >= 0.9, cards.missed
    assert phones.precision >= 0.95 and phones.recall >= 0.8, (
        phones.false_positives,
        phones.missed,
    )
