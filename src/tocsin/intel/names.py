"""Display-name impersonation: a sender that calls itself a VIP or a brand it is not.

Readers trust the name a mail client shows far more than the address behind it, so "PayPal
Service Team <x@evil.example>" and "Jane Doe (CEO) <jane.doe@freemail.example>" work. A
``NameMatcher`` compares a display name with the configured VIPs and brands after reducing
both to a plain form (compatibility forms, case, accents and Unicode look-alikes removed,
punctuation as spaces), by Jaro-Winkler on the whole name and on its sorted words
("Doe, Jane"), and for brands by the brand's name as a word of the display name. A sender that
is one of the entry's own addresses or domains is never a match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from tocsin.intel.lookalike import skeleton

SIMILARITY = 0.92
"""Jaro-Winkler similarity from which two names are taken for the same."""
MIN_FUZZY_NAME = 4
"""Shorter names (UPS, DHL, IRS) match only as the whole display name."""
MAX_NAME_CHARS = 256
"""A display name is read this far: hostile mail sends kilobytes of "name"."""
_NON_WORD = re.compile(r"[\W_]+")
# the same for ASCII text, as a table: translate() is several times faster than the regex
_ASCII_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})
# a capital I inside a lower-case word is the oldest trick there is: "PayPaI" reads PayPal
_CAPITAL_I = re.compile(r"(?<=[a-z])I(?=[a-z]|\b)")


@dataclass(frozen=True, slots=True)
class Impersonated:
    """A person or brand worth impersonating, with the addresses and domains really theirs."""

    name: str
    kind: Literal["vip", "brand"]
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NameMatch:
    """A display name that resembles an entry: the entry, the similarity, and how it matched."""

    entry: Impersonated
    score: float
    technique: str


def normalize_name(text: str) -> str:
    """A name reduced to what a reader sees: ``'Jóhn  SMITH, (CEO)'`` -> ``'john smith ceo'``."""
    text = unicodedata.normalize("NFKC", text[:MAX_NAME_CHARS])
    if "I" in text:
        text = _CAPITAL_I.sub("l", text)
    plain = skeleton(text.casefold())
    if plain.isascii():
        return " ".join(plain.translate(_ASCII_NON_WORD).split())
    return " ".join(_NON_WORD.sub(" ", plain).split())


@dataclass(frozen=True, slots=True)
class _Entry:
    entry: Impersonated
    addresses: frozenset[str]
    domains: frozenset[str]


class NameMatcher:
    """Matches display names against VIPs and brands, with every name prepared once."""

    __slots__ = (
        "_entries",
        "_exact",
        "_full",
        "_full_at",
        "_phrases",
        "_sorted",
        "_starts",
        "_widest",
    )

    def __init__(self, entries: Iterable[Impersonated]) -> None:
        self._entries: list[_Entry] = []
        self._exact: dict[str, list[int]] = {}
        # parallel lists for rapidfuzz: a name, its words sorted, and the entry it stands for
        self._full: list[str] = []
        self._sorted: list[str] = []
        self._full_at: list[int] = []
        # words of a display name that name a brand (or a VIP in full) -> entries
        self._phrases: dict[str, list[int]] = {}
        # words a phrase can start with (its first word, or a prefix of its spaceless form),
        # so most words of a display name cost one set probe
        self._starts: set[str] = set()
        self._widest = 0
        for entry in entries:
            name = normalize_name(entry.name)
            if not name:
                continue
            index = len(self._entries)
            self._entries.append(
                _Entry(
                    entry,
                    frozenset(a.strip().lower() for a in entry.addresses),
                    frozenset(d.strip().lower().rstrip(".") for d in entry.domains),
                )
            )
            self._exact.setdefault(name, []).append(index)
            squashed = name.replace(" ", "")
            if len(squashed) < MIN_FUZZY_NAME:
                continue
            self._full.append(name)
            self._sorted.append(" ".join(sorted(name.split())))
            self._full_at.append(index)
            words = name.count(" ") + 1
            # a brand is a brand wherever it stands; a person only when named in full
            if entry.kind == "brand" or words >= 2:
                for phrase in {name, squashed} if entry.kind == "brand" else {name}:
                    self._phrases.setdefault(phrase, []).append(index)
                self._starts.add(name.split(" ", 1)[0])
                if entry.kind == "brand":
                    self._starts.update(squashed[:end] for end in range(1, len(squashed)))
                self._widest = max(self._widest, words)

    def __len__(self) -> int:
        """How many entries the matcher holds."""
        return len(self._entries)

    def check(self, display_name: str, from_address: str | None) -> NameMatch | None:
        """The entry the display name impersonates, unless the address is the entry's own."""
        name = normalize_name(display_name) if display_name else ""
        if not name or not self._entries:
            return None
        address = (from_address or "").strip().lower().strip("<>")
        domain = address.rpartition("@")[2].rstrip(".") if "@" in address else ""
        for index, score, technique in self._candidates(name):
            known = self._entries[index]
            if not self._is_legitimate(known, address, domain):
                return NameMatch(known.entry, round(score, 4), technique)
        return None

    def _candidates(self, name: str) -> list[tuple[int, float, str]]:
        """Entries the name resembles, strongest evidence first."""
        found: list[tuple[int, float, str]] = [(i, 1.0, "exact") for i in self._exact.get(name, ())]
        if self._full:
            for _, score, at in process.extract(
                name, self._full, scorer=JaroWinkler.similarity, score_cutoff=SIMILARITY, limit=3
            ):
                found.append((self._full_at[at], score, "jaro-winkler"))
            words = name.split()
            # a person's name has two to four words; longer display names are sentences
            if 1 < len(words) <= 4:
                ordered = " ".join(sorted(words))
                for _, score, at in process.extract(
                    ordered,
                    self._sorted,
                    scorer=JaroWinkler.similarity,
                    score_cutoff=SIMILARITY,
                    limit=3,
                ):
                    found.append((self._full_at[at], score, "token-order"))
            found.extend((i, 1.0, "name-word") for i in self._phrase_hits(words))
        return found

    def _phrase_hits(self, words: list[str]) -> list[int]:
        """Entries named by consecutive words of the display name (``paypal service team``)."""
        hits: list[int] = []
        phrases, starts = self._phrases, self._starts
        for start, word in enumerate(words):
            if word not in starts and word not in phrases:
                continue
            hits.extend(phrases.get(word, ()))
            for end in range(start + 2, min(start + self._widest, len(words)) + 1):
                chunk = words[start:end]
                hits.extend(phrases.get(" ".join(chunk), ()))
                # "Pay Pal" and "BankOf America" are the same brands without their spaces
                hits.extend(phrases.get("".join(chunk), ()))
        return hits

    @staticmethod
    def _is_legitimate(known: _Entry, address: str, domain: str) -> bool:
        if address and address in known.addresses:
            return True
        if not domain or not known.domains:
            return False
        start = 0
        while True:
            if domain[start:] in known.domains:
                return True
            dot = domain.find(".", start)
            if dot < 0:
                return False
            start = dot + 1
