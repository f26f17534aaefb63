"""Lookalike domains of the organisation's protected domains: generate them, recognise them.

``permutations`` makes the typo, homoglyph and bit-flip variants a squatter registers, with the
techniques dnstwist popularised (the code and tables are written here). ``LookalikeDetector``
turns them into one dictionary when it is built, and adds what a fixed list cannot hold:
punycode and Unicode confusables (compared by their skeleton, after the idea of Unicode TR39),
names within a small Damerau-Levenshtein distance, the protected name under another suffix,
and the protected name embedded in a longer name (``paypal-verify.net``,
``paypal.com.secure-login.xyz``). A check is a few dictionary probes, two Aho-Corasick scans
and a rapidfuzz distance for the rare candidates, and its answer is cached, so every sender
and link of every message can afford it. ``check_many`` gives the same answers for a whole
window of DNS names at once: it lowers, validates and scans the names in bulk (numpy, one
automaton pass per chunk), settles the registrable split per pair of last labels, and leaves
to ``check`` only the few names that could be lookalikes.

Registrable domains come from the Public Suffix List shipped inside ``publicsuffixlist``;
nothing is ever fetched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import compress

import ahocorasick_rs
import numpy as np
import orjson
from publicsuffixlist import PublicSuffixList
from rapidfuzz.distance import DamerauLevenshtein

from tocsin.intel.indicators import IndicatorValueError, ascii_domain

MIN_FUZZY_LABEL = 4
"""Shorter protected names only match exact permutations: "ups" is one edit from far too much."""
_ONE_EDIT_LABEL = 5
_TWO_EDITS_LABEL = 9

_psl: PublicSuffixList | None = None


def _suffix_list() -> PublicSuffixList:
    global _psl
    if _psl is None:
        # accept_unknown=False: "file.pdf" or "corp.internal" have no registrable domain
        _psl = PublicSuffixList(accept_unknown=False)
    return _psl


@lru_cache(maxsize=65536)
def registrable(domain: str) -> str | None:
    """The registrable domain (``a.b.example.co.uk`` -> ``example.co.uk``), None if unknown."""
    name = domain.strip().lower().rstrip(".")
    if not name or ".." in name:
        return None
    try:
        found: str | None = _suffix_list().privatesuffix(name)
    except (ValueError, UnicodeError):
        return None
    return found


def public_suffix(domain: str) -> str | None:
    """The public suffix of a domain (``co.uk`` for ``example.co.uk``), None if unknown."""
    name = domain.strip().lower().rstrip(".")
    try:
        found: str | None = _suffix_list().publicsuffix(name) if name else None
    except (ValueError, UnicodeError):
        return None
    return found


@dataclass(frozen=True, slots=True)
class _SuffixRules:
    """The Public Suffix List as ``publicsuffixlist`` reads it, arranged for batch splits."""

    rules: frozenset[str]  # "co.uk", "*.ck", "!www.ck", as the library holds them
    tails: frozenset[str]  # every label tail of a rule's name: a walk past these finds nothing
    deep: frozenset[str]  # last two labels of the rules that decide at depth two or more
    wild: frozenset[str]  # TLDs with a wildcard or exception rule of their own ("ck")
    extensions: dict[str, frozenset[str]]  # tail of 2+ labels -> labels that extend it in tails


_rules: _SuffixRules | None = None


def _suffix_rules() -> _SuffixRules:
    """The rules of the list shipped in publicsuffixlist, parsed as its own parser does."""
    global _rules
    if _rules is not None:
        return _rules
    raw = resources.files("publicsuffixlist").joinpath("public_suffix_list.dat").read_bytes()
    rules: set[str] = set()
    for line in raw.split(b"\n"):
        rule = line.decode("utf-8", "surrogateescape").lower().split(" ")[0].rstrip()
        if not rule or rule.startswith("//"):
            continue
        rules.add(rule)
        # the library adds the A-label form of every rule, exceptions keeping their "!"
        try:
            encoded = rule.lstrip("!").encode("idna").decode("ascii")
        except UnicodeError:
            continue
        rules.add("!" + encoded if rule.startswith("!") else encoded)
    tails: set[str] = set()
    deep: set[str] = set()
    wild: set[str] = set()
    extensions: dict[str, set[str]] = {}
    for rule in rules:
        # the name a rule is probed with: "!www.ck" and "*.ck" are looked up as www.ck and ck
        name = rule[1:] if rule.startswith("!") else rule
        special = name != rule or name.startswith("*.")
        name = name[2:] if name.startswith("*.") else name
        labels = name.split(".")
        tails.update(".".join(labels[i:]) for i in range(len(labels)))
        for i in range(len(labels) - 2):
            extensions.setdefault(".".join(labels[i + 1 :]), set()).add(labels[i])
        if len(labels) >= 2:
            deep.add(".".join(labels[-2:]))
        elif special:
            wild.add(name)
    _rules = _SuffixRules(
        frozenset(rules),
        frozenset(tails),
        frozenset(deep),
        frozenset(wild),
        {tail: frozenset(heads) for tail, heads in extensions.items()},
    )
    return _rules


def _public_depth(labels: list[str], rules: _SuffixRules) -> int:
    """Labels in the public suffix of a name, as ``privatesuffix`` counts them (0: unknown).

    The library probes from the longest suffix down and stops at the first rule; walking up
    from the TLD while a rule can still lie ahead, and keeping the deepest rule, is the same.
    """
    table, tails = rules.rules, rules.tails
    count = len(labels)
    found = 0
    depth = 1
    suffix = labels[-1]
    while suffix in tails:
        if "!" + suffix in table:
            found = depth - 1
        elif "*." + suffix in table:
            found = depth + 1 if depth < count else depth
        elif suffix in table:
            found = depth
        if depth == count:
            break
        depth += 1
        suffix = f"{labels[-depth]}.{suffix}"
    return found


def registrable_split(name: str) -> str | None:
    """``registrable`` for names already lowercased and without a final dot, at DNS speed.

    The same answer as the public suffix list library gives (a test compares them over a
    corpus), from the rules walked label by label instead of its generic probe: a window of
    DNS lookups has hundreds of thousands of distinct names.
    """
    if not name or ".." in name or name[0] == ".":
        return None
    labels = name.split(".")
    depth = _public_depth(labels, _suffix_rules())
    if depth == 0 or depth >= len(labels):
        return None
    return ".".join(labels[-depth - 1 :])


# -- confusables skeleton --------------------------------------------------------------

_ASCII_FOLD = str.maketrans({"0": "o", "1": "l", "|": "l"})
_MULTI_FOLD = (("rn", "m"), ("vv", "w"))
_confusables: dict[int, str] | None = None


def _confusable_table() -> dict[int, str]:
    """Code point -> the ASCII letter or digit it passes for, from confusable_homoglyphs' data."""
    global _confusables
    if _confusables is not None:
        return _confusables
    data = orjson.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_bytes()
    )
    table: dict[int, str] = {}
    # letters first, then digits: a glyph like "l" of many faces should read as a letter
    ascii_keys = sorted(
        (k for k in data if len(k) == 1 and k.isascii() and k.isalnum()),
        key=lambda k: (k.isdigit(), k.isupper(), k),
    )
    for key in ascii_keys:
        for entry in data[key]:
            glyph = entry["c"]
            if len(glyph) == 1 and not glyph.isascii():
                table.setdefault(ord(glyph), key.lower())
    for key, entries in data.items():
        if len(key) != 1 or key.isascii() or ord(key) in table:
            continue
        ascii_glyphs = [e["c"] for e in entries if len(e["c"]) == 1 and e["c"].isascii()]
        letters = [g for g in ascii_glyphs if g.isalpha()] or [
            g for g in ascii_glyphs if g.isdigit()
        ]
        if letters:
            table[ord(key)] = letters[0].lower()
    _confusables = table
    return table


def skeleton(text: str) -> str:
    """What a name looks like: no accents, confusables as ASCII (``раураl`` reads paypal)."""
    if text.isascii():
        folded = text.lower()
        # translate() is slow next to three scans in C, and digits are rare in names
        if "0" in folded or "1" in folded or "|" in folded:
            folded = folded.translate(_ASCII_FOLD)
    else:
        table = _confusable_table()
        decomposed = unicodedata.normalize("NFKD", text.casefold().translate(table))
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = stripped.translate(table).lower().translate(_ASCII_FOLD)
    for sequence, letter in _MULTI_FOLD:
        if sequence in folded:
            folded = folded.replace(sequence, letter)
    return folded


def _unicode_label(label: str) -> str:
    if label.startswith("xn--"):
        try:
            return label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    return label


def _ascii_label(label: str) -> str | None:
    if label.isascii():
        return label
    try:
        return "xn--" + unicodedata.normalize("NFC", label).encode("punycode").decode("ascii")
    except UnicodeError:
        return None


# -- permutations ----------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_HOST_CHARS = frozenset(_ALNUM + "-")
_VOWELS = "aeiou"
_QWERTY = {
    "1": "2q", "2": "13wq", "3": "24ew", "4": "35re", "5": "46tr", "6": "57yt", "7": "68uy",
    "8": "79iu", "9": "80oi", "0": "9po",
    "q": "12wa", "w": "23qeas", "e": "34wrsd", "r": "45etdf", "t": "56ryfg", "y": "67tugh",
    "u": "78yihj", "i": "89uojk", "o": "90ipkl", "p": "0ol",
    "a": "qwsz", "s": "weadzx", "d": "ersfxc", "f": "rtdgcv", "g": "tyfhvb", "h": "yugjbn",
    "j": "uihknm", "k": "iojlm", "l": "opk",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}  # fmt: skip
# what each character can be swapped for and still read the same (ASCII and Unicode)
_HOMOGLYPHS = {
    "a": "àáâãäåāăąạɑа", "b": "dḃḅƅь", "c": "eçćĉċčсϲ", "d": "bďđḋḍԁɗ",
    "e": "cèéêëēĕėęěẹеҽ", "f": "ḟƒ", "g": "q9ĝğġģǵɡԍ", "h": "ĥħḣḥһ", "i": "1lìíîïĩīįıịіɩ",
    "j": "ĵʝј", "k": "ķḳκк", "l": "1iĺļľłḷӏɫ", "m": "nṁṃм", "n": "mrñńņňṅṇոп",
    "o": "0òóôõöøōŏőọơοоօ", "p": "ṗþрρ", "q": "gԛզ", "r": "ŕŗřṙṛгɾ", "s": "5śŝşšșṡṣѕ",
    "t": "ţťțṫṭт", "u": "ùúûüũūŭůűųưụυս", "v": "ṽṿνѵ", "w": "ŵẁẃẅẉԝѡ", "x": "ẋẍхҳ",
    "y": "ýÿŷẏẙỳỵуү", "z": "źżžẓʐ", "0": "oο", "1": "li", "5": "s", "9": "g",
}  # fmt: skip
_MULTI_GLYPHS = (("m", "rn"), ("m", "nn"), ("w", "vv"), ("d", "cl"), ("rn", "m"), ("vv", "w"))
TLD_SWAPS = (
    "com", "net", "org", "info", "biz", "co", "io", "us", "eu", "de", "fr", "nl", "es", "it",
    "co.uk", "uk", "ca", "com.au", "in", "me", "app", "online", "site", "xyz", "top", "shop",
    "live", "support", "cc", "ru", "cn",
)  # fmt: skip
BAIT_WORDS = frozenset(
    "login logon signin secure security verify verification validate account accounts "
    "support help helpdesk service services update updates online auth sso mail webmail "
    "portal billing pay payment payments invoice my www app id team alert alerts notice "
    "confirm recovery reset unlock wallet bank banking customer client center centre "
    "official access admin cloud docs drive file files share office web mobile store shop "
    "refund claim bonus gift promo now care desk hr payroll it".split()
)
"""Words a squatter glues to a brand: ``paypalsecure``, ``mypaypal``, ``paypal-login``."""
_VARIOUS_WORDS = (
    "login", "secure", "support", "verify", "account", "update", "service", "online",
    "auth", "sso", "portal", "billing", "security", "help", "mail", "signin",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Permutation:
    """A lookalike of a domain and the technique that made it."""

    domain: str
    technique: str


def _split(domain: str) -> tuple[str, str] | None:
    """(label, suffix) of a domain's registrable part; the last label when the suffix is unknown."""
    try:
        name = ascii_domain(domain)
    except IndicatorValueError:
        return None
    reg = registrable(name)
    if reg is None:
        parts = name.rsplit(".", 2)
        if len(parts) < 2:
            return None
        reg = ".".join(parts[-2:])
    label, _, suffix = reg.partition(".")
    return (label, suffix) if label and suffix else None


def _addition(label: str) -> Iterator[str]:
    for char in _ALNUM:
        yield label + char


def _bitsquatting(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        for bit in range(8):
            flipped = chr(ord(char) ^ (1 << bit))
            if flipped in _HOST_CHARS:
                yield label[:i] + flipped + label[i + 1 :]


def _homoglyph(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        for glyph in _HOMOGLYPHS.get(char, ""):
            yield label[:i] + glyph + label[i + 1 :]
    for sequence, glyphs in _MULTI_GLYPHS:
        start = label.find(sequence)
        while start >= 0:
            yield label[:start] + glyphs + label[start + len(sequence) :]
            start = label.find(sequence, start + 1)


def _hyphenation(label: str) -> Iterator[str]:
    for i in range(1, len(label)):
        if label[i - 1] != "-" and label[i] != "-":
            yield f"{label[:i]}-{label[i:]}"


def _insertion(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        for near in _QWERTY.get(char, ""):
            yield label[:i] + near + label[i:]
            yield label[: i + 1] + near + label[i + 1 :]


def _omission(label: str) -> Iterator[str]:
    for i in range(len(label)):
        yield label[:i] + label[i + 1 :]


def _repetition(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        if char.isalnum():
            yield label[:i] + char + label[i:]


def _replacement(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        for near in _QWERTY.get(char, ""):
            yield label[:i] + near + label[i + 1 :]


def _transposition(label: str) -> Iterator[str]:
    for i in range(len(label) - 1):
        if label[i] != label[i + 1]:
            yield label[:i] + label[i + 1] + label[i] + label[i + 2 :]


def _vowel_swap(label: str) -> Iterator[str]:
    for i, char in enumerate(label):
        if char in _VOWELS:
            for vowel in _VOWELS:
                if vowel != char:
                    yield label[:i] + vowel + label[i + 1 :]


def _various(label: str, suffix: str) -> Iterator[str]:
    for word in _VARIOUS_WORDS:
        yield f"{label}-{word}"
        yield f"{word}-{label}"
    yield label + suffix.replace(".", "")
    yield f"{label}-{suffix.replace('.', '-')}"
    yield f"www{label}"
    yield f"www-{label}"


# order matters: a variant two techniques make is named after the first (the likelier intent)
_LABEL_TECHNIQUES = (
    ("homoglyph", _homoglyph),
    ("transposition", _transposition),
    ("omission", _omission),
    ("repetition", _repetition),
    ("vowel-swap", _vowel_swap),
    ("hyphenation", _hyphenation),
    ("addition", _addition),
    ("insertion", _insertion),
    ("replacement", _replacement),
    ("bitsquatting", _bitsquatting),
)


def _valid_ascii_label(label: str) -> bool:
    if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
        return False
    if label[2:4] == "--" and not label.startswith("xn--"):
        return False
    return _HOST_CHARS.issuperset(label)


def permutations(domain: str) -> list[Permutation]:
    """The lookalikes of a domain's registrable part, each once, valid host names only.

    A variant with Unicode look-alikes is given twice: as Unicode and as punycode (xn--).
    """
    split = _split(domain)
    if split is None:
        return []
    label, suffix = split
    original = f"{label}.{suffix}"
    unicode_label = _unicode_label(label)
    found: dict[str, str] = {}

    def keep(candidate: str, technique: str, candidate_suffix: str = suffix) -> None:
        encoded = _ascii_label(candidate)
        if encoded is None or not _valid_ascii_label(encoded):
            return
        name = f"{encoded}.{candidate_suffix}"
        if name == original or len(name) > 253:
            return
        found.setdefault(name, technique)
        if encoded != candidate:
            found.setdefault(f"{candidate}.{candidate_suffix}", technique)

    for technique, make in _LABEL_TECHNIQUES:
        for candidate in make(unicode_label):
            keep(candidate, technique)
    for i in range(1, len(label)):
        if label[i] != "-" and label[i - 1] != "-":
            head, tail = label[:i], label[i:]
            if _valid_ascii_label(head) and _valid_ascii_label(tail):
                found.setdefault(f"{head}.{tail}.{suffix}", "subdomain")
    for tld in TLD_SWAPS:
        if tld != suffix:
            keep(label, "tld-swap", tld)
    for candidate in _various(label, suffix):
        keep(candidate, "various")
    return [Permutation(name, technique) for name, technique in found.items()]


# -- the detector ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookalikeMatch:
    """A domain that imitates a protected one, how, and the evidence in words."""

    domain: str
    protected: str
    technique: str
    detail: str


_PHRASES = {
    "addition": "adds a character to",
    "bitsquatting": "is one flipped bit from",
    "homoglyph": "uses look-alike characters to read as",
    "punycode": "is an internationalised name that reads as",
    "hyphenation": "adds a hyphen to",
    "insertion": "adds a neighbouring key to",
    "omission": "drops a character of",
    "repetition": "doubles a character of",
    "replacement": "swaps in a neighbouring key of",
    "subdomain": "splits with a dot the name of",
    "transposition": "swaps two characters of",
    "vowel-swap": "swaps a vowel of",
    "tld-swap": "puts under another suffix the name of",
    "embedded": "carries the name of",
}


def _shown(name: str) -> str:
    """An A-label name with its Unicode form beside it, as a reader would see it."""
    if "xn--" not in name:
        return name
    readable = ".".join(_unicode_label(label) for label in name.split("."))
    return f"{name} ({readable})"


def _parents(name: str) -> Iterator[str]:
    """The name, then each parent down to the last two labels."""
    start = 0
    while True:
        dot = name.find(".", start)
        if dot < 0:
            return
        yield name[start:]
        start = dot + 1


def _bait_piece(piece: str, *, left: bool) -> bool:
    """Whether text glued to a protected name is a separator, a number or a bait word."""
    if not piece:
        return True
    token = piece.rsplit("-", 1)[-1] if left else piece.split("-", 1)[0]
    return not token or token.isdigit() or token in BAIT_WORDS


_CACHE_SIZE = 8192
_MAX_NAME = 253
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


class LookalikeDetector:
    """Recognises lookalikes of a set of protected domains, with tables built once.

    Every table is a dictionary or an automaton made in the constructor: a check costs a
    handful of probes, whatever the number of protected domains. Results are kept for the
    last few thousand names, since the same hosts come back message after message.
    """

    __slots__ = (
        "_batch",
        "_cache",
        "_embedded_automaton",
        "_embedded_owners",
        "_labels",
        "_middle_automaton",
        "_middles",
        "_near",
        "_permutations",
        "_skeletons",
        "_suffixes",
        "protected",
    )

    def __init__(self, protected: Iterable[str]) -> None:
        registrables: dict[str, tuple[str, str]] = {}
        for domain in protected:
            split = _split(domain)
            if split is not None:
                registrables.setdefault(f"{split[0]}.{split[1]}", split)
        self.protected: tuple[str, ...] = tuple(registrables)
        self._suffixes = {reg: suffix for reg, (_, suffix) in registrables.items()}
        self._permutations: dict[str, tuple[str, str]] = {}
        self._labels: dict[str, str] = {}
        self._skeletons: dict[str, str] = {}
        # edit-distance candidates, by first two and last two characters (see _edit_distance)
        self._near: dict[str, list[tuple[str, str]]] = {}
        middles: dict[str, list[tuple[str, str]]] = {}
        patterns: dict[str, str] = {}
        for reg, (label, _) in registrables.items():
            for permutation in permutations(reg):
                self._permutations.setdefault(permutation.domain, (reg, permutation.technique))
            shape = skeleton(_unicode_label(label))
            if len(shape) < MIN_FUZZY_LABEL:
                continue
            self._labels.setdefault(label, reg)
            self._skeletons.setdefault(shape, reg)
            patterns.setdefault(shape, reg)
            if len(shape) >= _ONE_EDIT_LABEL:
                for key in (f"<{shape[:2]}", f">{shape[-2:]}"):
                    self._near.setdefault(key, []).append((shape, reg))
            if len(shape) >= _TWO_EDITS_LABEL:
                middles.setdefault(shape[2:-2], []).append((shape, reg))
        # one protected domain may be a variant of another (example.com, example.net)
        for name in [n for n in self._permutations if self._is_protected(n)]:
            del self._permutations[name]
        self._embedded_owners = list(patterns.items())
        self._embedded_automaton = ahocorasick_rs.AhoCorasick(list(patterns)) if patterns else None
        self._middles = list(middles.values())
        self._middle_automaton = ahocorasick_rs.AhoCorasick(list(middles)) if middles else None
        self._cache: dict[str, LookalikeMatch | None] = {}
        self._batch: _Batch | None = None  # check_many's tables, made when first needed

    def __len__(self) -> int:
        """How many precomputed permutations the detector holds."""
        return len(self._permutations)

    def _is_protected(self, name: str) -> bool:
        suffixes = self._suffixes
        return any(parent in suffixes for parent in _parents(name))

    def check(self, domain: str) -> LookalikeMatch | None:
        """The protected domain this one imitates, or None (protected ones and their subdomains)."""
        if not self.protected:
            return None
        cache = self._cache
        # one lookup, not "in" then "[]": another thread may clear() between the two
        try:
            return cache[domain]
        except KeyError:
            pass
        found = self._check(domain)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[domain] = found
        return found

    def check_many(self, names: Sequence[str]) -> list[LookalikeMatch | None]:
        """What ``check`` answers for each name, computed for the whole batch at once."""
        results: list[LookalikeMatch | None] = [None] * len(names)
        if not self.protected or not names:
            return results
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(self)
        # per call: a window repeats its domains, and only a few names need a real check
        memo: dict[str, int | _DeepTail] = {}
        labels: dict[str, int] = {}
        checked: dict[str, LookalikeMatch | None] = {}
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            for index in batch.suspects(chunk, memo, labels):
                name = chunk[index]
                try:
                    found = checked[name]
                except KeyError:
                    found = checked[name] = self._check(name)
                results[start + index] = found
        return results

    def _label_suspect(self, label: str) -> bool:
        """Whether a registrable label alone makes a lookalike (tld-swap, homoglyph, an edit)."""
        if label in self._labels:
            return True
        shape = skeleton(label)
        if shape in self._skeletons:
            return True
        if len(shape) < MIN_FUZZY_LABEL:
            return False
        near = self._near
        for choice, _ in (*near.get(f"<{shape[:2]}", ()), *near.get(f">{shape[-2:]}", ())):
            allowed = 2 if len(choice) >= _TWO_EDITS_LABEL else 1
            if DamerauLevenshtein.distance(shape, choice, score_cutoff=allowed) <= allowed:
                return True
        return False

    def _check(self, domain: str) -> LookalikeMatch | None:
        try:
            name = ascii_domain(domain)
        except IndicatorValueError:
            return None
        # longer than DNS allows is no host at all, and would make the walks below quadratic
        if "." not in name or name[-1:].isdigit() or len(name) > _MAX_NAME:
            return None
        if not _NAME_CHARS.issuperset(name):
            return None  # a NUL, a space, a slash: whatever this is, it is not a host name
        # one walk over the parents: a protected parent ends it, the first variant is kept
        suffixes, variants = self._suffixes, self._permutations
        hit: tuple[str, tuple[str, str]] | None = None
        start = 0
        dot = name.find(".")
        while dot >= 0:
            parent = name[start:]
            if parent in suffixes:
                return None
            if hit is None:
                found = variants.get(parent)
                if found is not None:
                    hit = parent, found
            start = dot + 1
            dot = name.find(".", start)
        international = "xn--" in name
        if hit is not None:
            parent, (protected, technique) = hit
            if technique == "various":
                technique = "embedded"  # the protected name plus a bait word
            elif technique == "homoglyph" and international:
                technique = "punycode"
            detail = f"{_shown(parent)} {_PHRASES[technique]} {protected}"
            return LookalikeMatch(name, protected, technique, detail)
        labels = name.split(".")
        reg = registrable(name)
        own = len(labels) - (reg.count(".") if reg else 1) - 1  # the registrable label
        if own < 0:
            return None
        label = labels[own]
        owner = self._labels.get(label)
        if owner is not None:
            detail = f"{name} {_PHRASES['tld-swap']} {owner}"
            return LookalikeMatch(name, owner, "tld-swap", detail)
        if international:
            shapes = [skeleton(_unicode_label(part)) for part in labels[: own + 1]]
        else:
            shapes = [skeleton(part) for part in labels[: own + 1]]
        shape = shapes[own]
        owner = self._skeletons.get(shape)
        if owner is not None:
            technique = "punycode" if international else "homoglyph"
            detail = f"{_shown(name)} {_PHRASES[technique]} {owner}"
            return LookalikeMatch(name, owner, technique, detail)
        return self._edit_distance(name, shape) or self._embedded(name, shapes, own, labels)

    def _edit_distance(self, name: str, shape: str) -> LookalikeMatch | None:
        """A registrable label one edit (two for long names) from a protected one.

        One edit to a name of five or more characters leaves its first two or its last two
        characters in place, so those index the candidates; two edits to a long name may
        touch both ends, so the middle of long names is found by an automaton as well.
        Only the few candidates get a Damerau-Levenshtein distance.
        """
        if len(shape) < MIN_FUZZY_LABEL:
            return None
        candidates = [
            *self._near.get(f"<{shape[:2]}", ()),
            *self._near.get(f">{shape[-2:]}", ()),
        ]
        if self._middle_automaton is not None and len(shape) >= _TWO_EDITS_LABEL - 2:
            for index, _, _ in self._middle_automaton.find_matches_as_indexes(shape):
                candidates.extend(self._middles[index])
        for choice, owner in candidates:
            allowed = 2 if len(choice) >= _TWO_EDITS_LABEL else 1
            # score_cutoff lets rapidfuzz stop as soon as the distance is above it
            distance = DamerauLevenshtein.distance(shape, choice, score_cutoff=allowed)
            if 0 < distance <= allowed:
                edits = "edit" if distance == 1 else "edits"
                detail = f"{_shown(name)} is {distance} {edits} away from {owner}"
                return LookalikeMatch(name, owner, "edit-distance", detail)
        return None

    def _embedded(
        self, name: str, shapes: list[str], own: int, labels: list[str]
    ) -> LookalikeMatch | None:
        """A protected name inside a longer label, or the whole protected domain in front."""
        if self._embedded_automaton is None:
            return None
        text = ".".join(shapes)  # up to the registrable label: a suffix carries no name
        for pattern, start, end in self._embedded_automaton.find_matches_as_indexes(
            text, overlapping=True
        ):
            shape, owner = self._embedded_owners[pattern]
            label_start = text.rfind(".", 0, start) + 1
            label_end = text.find(".", end)
            label_end = len(text) if label_end < 0 else label_end
            before, after = text[label_start:start], text[end:label_end]
            index = text.count(".", 0, start)
            if before or after:
                if not (_bait_piece(before, left=True) and _bait_piece(after, left=False)):
                    continue
                where = "in its name" if index == own else "in a subdomain"
                detail = f"{_shown(name)} carries {shape!r} of {owner} {where}"
                return LookalikeMatch(name, owner, "embedded", detail)
            # the bare name as a subdomain counts only when the whole protected domain
            # follows (paypal.com.evil.xyz, paypal.com-secure.xyz): a tenant such as
            # acme.sharepoint.com is how SaaS names its customers
            if index < own:
                rest = ".".join(labels[index + 1 :])
                protected_suffix = self._suffixes[owner]
                following = rest[len(protected_suffix) : len(protected_suffix) + 1]
                if rest.startswith(protected_suffix) and following in ("", ".", "-"):
                    detail = f"{_shown(name)} starts with the protected domain {owner}"
                    return LookalikeMatch(name, owner, "embedded", detail)
        return None


# -- batches ---------------------------------------------------------------------------

_CHUNK = 32768
"""Names scanned together: their joined text stays in the CPU cache and its buffers get reused."""
_PLAIN_BYTE = np.zeros(256, dtype=np.bool_)
_PLAIN_BYTE[list(b"abcdefghijklmnopqrstuvwxyz0123456789-._\n")] = True
_DIGIT_BYTE = np.zeros(256, dtype=np.bool_)
_DIGIT_BYTE[list(b"0123456789")] = True
_FOLD_BYTES = bytes.maketrans(b"01", b"ol")
_TRAILING_DOTS = re.compile(r"\.+(?=\n|\Z)")
_MAX_SPELLED = 8
_SUSPECT = 1  # the name may be a lookalike: check() it
_DEEP = 2  # the registrable domain holds more than the last two labels, or may
_OWN = 4  # a protected domain is a parent of the name: never a lookalike


def _strip_dots(text: str) -> str:
    """Lines without their trailing dots, as ascii_domain() strips them from a name."""
    for _ in range(3):  # a pass of replace() costs far less than the regular expression
        text = text.replace(".\n", "\n").rstrip(".")
        if ".\n" not in text:
            return text
    return _TRAILING_DOTS.sub("", text)


def _spellings(shape: str) -> list[str]:
    """Texts whose skeleton holds ``shape``: each m may be written "rn", each w "vv".

    Searching the names for these finds the protected names without folding the names'
    text (which would shift every offset); a shape with too many m and w is searched by its
    longest stretch without them, which finds more, never less.
    """
    spots = [i for i, char in enumerate(shape) if char in "mw"]
    if len(spots) > _MAX_SPELLED:
        longest = max(re.split("[mw]", shape), key=len)
        return [longest] if longest else ["m", "w", "rn", "vv"]
    found = [shape]
    for i in reversed(spots):  # from the right: the offsets to the left stay valid
        found += [text[:i] + ("rn" if shape[i] == "m" else "vv") + text[i + 1 :] for text in found]
    return found


def _raw_keys(near: dict[str, list[tuple[str, str]]], side: str) -> dict[str, tuple[int, int]]:
    """First (``<``) or last (``>``) two characters of the labels whose skeleton has a key of
    the edit-distance index there, with the lengths a label needs to be in reach of one."""
    spelled = {"o": "o0", "l": "l1"}  # what skeleton() reads as o and l in an ASCII label
    pairs = {"m": "rn", "w": "vv"}
    at_start = side == "<"
    found: dict[str, tuple[int, int]] = {}
    for key, choices in near.items():
        if key[0] != side or len(key) != 3:
            continue
        first, second = key[1], key[2]
        allowed = [2 if len(c) >= _TWO_EDITS_LABEL else 1 for c, _ in choices]
        low = min(len(c) - a for (c, _), a in zip(choices, allowed, strict=True))
        high = max(len(c) + a for (c, _), a in zip(choices, allowed, strict=True))
        raws: set[str] = set()
        for a in spelled.get(first, first):
            for b in spelled.get(second, second):
                raws.add(a + b)
            # a letter written as a pair takes both characters, or the one next to it
            if at_start and second in pairs:
                raws.add(a + pairs[second][0])
        for b in spelled.get(second, second):
            if not at_start and first in pairs:
                raws.add(pairs[first][1] + b)
        if at_start and first in pairs:
            raws.add(pairs[first])
        if not at_start and second in pairs:
            raws.add(pairs[second])
        for raw in raws:
            was = found.get(raw, (low, high))
            found[raw] = (min(was[0], low), max(was[1], high))
    return found


_DeepTail = tuple[dict[str, int], int, int]
"""A pair of last labels under a deeper suffix (co.uk, cloudfront.net): what the label before
it decides (``_OWN``, ``_SUSPECT``, or ``_WALK`` when a longer rule may apply), the length of
the public suffix otherwise, and the verdict when the first label of the pair is the
registrable one."""
_WALK = 8


class _Batch:
    """check_many's tables, and the bulk pass that sets most names of a batch aside.

    A name is handed to ``_check`` only when it is unusual (Unicode, a space, an empty label,
    punycode), when it holds a protected name or the middle of a long one (one automaton
    pass per chunk), when a variant may be one of its parents, or when its registrable label
    is near a protected one. The registrable label comes from the last two labels, settled
    once per distinct pair with the suffix list, and from the third one under deeper
    suffixes (co.uk, cloudfront.net).
    """

    __slots__ = (
        "_automaton",
        "_detector",
        "_firsts",
        "_lasts",
        "_owned",
        "_parents",
        "_rules",
        "_tails",
    )

    def __init__(self, detector: LookalikeDetector) -> None:
        self._detector = detector
        self._rules = _suffix_rules()
        shapes = list(detector._skeletons)
        middles = [shape[2:-2] for shape in shapes if len(shape) >= _TWO_EDITS_LABEL]
        texts = dict.fromkeys(text for shape in shapes + middles for text in _spellings(shape))
        self._automaton = (
            ahocorasick_rs.BytesAhoCorasick([text.encode("utf-8") for text in texts])
            if texts
            else None
        )
        self._firsts = _raw_keys(detector._near, "<")
        self._lasts = _raw_keys(detector._near, ">")
        tails: set[str] = set()
        parents: dict[str, set[str]] = {}
        for variant in detector._permutations:
            parts = variant.rsplit(".", 2)
            tail = ".".join(parts[-2:])
            tails.add(tail)
            if len(parts) == 3:
                parents.setdefault(tail, set()).add(parts[0].rsplit(".", 1)[-1])
        self._tails = frozenset(tails)  # the last two labels of every variant
        self._parents = {tail: frozenset(labels) for tail, labels in parents.items()}
        owned: dict[str, set[str]] = {}
        for domain in detector.protected:
            parts = domain.rsplit(".", 2)
            if len(parts) == 3 and "." not in parts[0]:
                owned.setdefault(".".join(parts[-2:]), set()).add(parts[0])
        # protected domains of three labels (acme.co.uk), by their last two
        self._owned = {tail: frozenset(labels) for tail, labels in owned.items()}

    def suspects(
        self, chunk: Sequence[str], memo: dict[str, int | _DeepTail], labels: dict[str, int]
    ) -> list[int]:
        """Positions in ``chunk`` of the names that need ``_check``; None for all the others."""
        odd: list[int] = []
        text = "\n".join(chunk)
        positions: list[int] | None = None  # where each joined name sits in the chunk
        if not text.isascii() or text.count("\n") != len(chunk) - 1:
            # Unicode names (IDNs) and names with a newline in them are few: check() them
            usable = [name.isascii() and "\n" not in name for name in chunk]
            positions = list(compress(range(len(chunk)), usable))
            odd = [index for index, ok in enumerate(usable) if not ok]
            if not positions:
                return odd
            text = "\n".join(compress(chunk, usable))
        text = text.lower()
        if ".\n" in text or text.endswith("."):
            text = _strip_dots(text)
        plain = text.split("\n")
        flagged = self._scan(text, plain)
        get = memo.get
        firsts, lasts = self._firsts, self._lasts
        # the hot loop: a few string calls and a probe per name, the rest once per pair of labels
        for index, name in enumerate(plain):
            dot = name.rfind(".")
            if dot < 0:
                continue  # one label is never a lookalike, and set-aside names are blank
            dot2 = name.rfind(".", 0, dot)
            tail = name[dot2 + 1 :]
            found = get(tail)
            if found is None:
                found = memo[tail] = self._tail_verdict(tail, labels)
            if not found:
                continue
            if isinstance(found, tuple):
                special, depth, second = found
                if dot2 < 0:
                    verdict = second  # two labels: the first one is the registrable label
                else:
                    third = name[name.rfind(".", 0, dot2) + 1 : dot2]
                    verdict = special.get(third, 0)
                    if verdict == _WALK:
                        verdict = self._longer_verdict(name, dot2, memo, labels)
                    elif not verdict and depth > 2:
                        verdict = self._walk_verdict(name, labels)
                    elif not verdict:
                        if depth < 2:
                            verdict = second
                        elif third[:2] in firsts or third[-2:] in lasts:
                            verdict = self._label_verdict(third, labels)
                if not verdict:
                    continue
            else:
                verdict = found
            if verdict == _SUSPECT:
                flagged.add(index)
            else:
                flagged.discard(index)  # _OWN: the automaton saw the protected name in it
        if positions is None:
            return sorted(flagged)
        return sorted(odd + [positions[i] for i in flagged])

    def _scan(self, text: str, plain: list[str]) -> set[int]:
        """Names to check: the unusual ones, and those that hold a protected text.

        Names are validated as ``_check`` does, with numpy over the joined bytes (those it
        turns down are blanked in ``plain``), and one automaton pass over the bytes finds
        every name whose skeleton holds a protected name (embedded) or the middle of a long
        one (two edits), wherever it stands in the name.
        """
        raw = text.encode("ascii")
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = np.append(np.flatnonzero(data == 10), len(data))
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts
        # what _check turns down at once: no name, too long, an address (ends with a digit)
        blank = (lengths == 0) | (lengths > _MAX_NAME)
        odd = np.zeros(len(ends), dtype=np.bool_)
        if len(data):
            blank |= _DIGIT_BYTE[data[np.maximum(ends - 1, 0)]]
            odd |= data[np.minimum(starts, len(data) - 1)] == ord(".")
        unplain = np.flatnonzero(~_PLAIN_BYTE[data])
        if len(unplain):
            odd[np.searchsorted(ends, unplain)] = True
        for sequence in (b"..", b"xn--"):  # an empty label; a name that reads as Unicode
            at = raw.find(sequence)
            while at >= 0:
                odd[np.searchsorted(ends, at)] = True
                line_end = raw.find(b"\n", at)
                at = raw.find(sequence, line_end + 1) if line_end >= 0 else -1
        # odd names (a space, a symbol, punycode) go to _check whole; blank ones are no lookalike
        flagged = set(np.flatnonzero(odd).tolist())
        for index in np.flatnonzero(blank | odd).tolist():
            plain[index] = ""
        if self._automaton is not None:
            # 0 and 1 read as o and l, one byte for one: the offsets stay those of the names
            hits = self._automaton.find_matches_as_indexes(
                raw.translate(_FOLD_BYTES), overlapping=True
            )
            if hits:
                at_starts = np.fromiter((hit[1] for hit in hits), np.int64, len(hits))
                flagged.update(np.searchsorted(ends, at_starts).tolist())
        return flagged

    def _tail_verdict(self, tail: str, labels: dict[str, int]) -> int | _DeepTail:
        """What the last two labels of a name say, or what is needed to say it under them."""
        detector = self._detector
        if tail in detector._suffixes:
            return _OWN
        if tail in detector._permutations:
            return _SUSPECT  # a variant, or the parent of every name under it
        own, _, top = tail.partition(".")
        rules = self._rules
        if tail in rules.deep or top in rules.wild:
            special = dict.fromkeys(rules.extensions.get(tail, ()), _WALK)
            special.update(dict.fromkeys(self._parents.get(tail, ()), _SUSPECT))
            special.update(dict.fromkeys(self._owned.get(tail, ()), _OWN))
            depth = _public_depth(["", own, top], rules)  # "" stops the walk at depth three
            return special, depth, self._label_verdict(own, labels)
        if tail in self._tails:
            return _SUSPECT
        return self._label_verdict(own, labels)

    def _longer_verdict(
        self, name: str, dot2: int, memo: dict[str, int | _DeepTail], labels: dict[str, int]
    ) -> int:
        """The verdict on a name under a suffix of three labels or more (s3.amazonaws.com).

        As for the last two labels, what the last three say is kept per call; the walk over
        the whole list is left to names with yet longer suffixes.
        """
        dot3 = name.rfind(".", 0, dot2)
        if dot3 < 0:
            return self._walk_verdict(name, labels)
        tail = name[dot3 + 1 :]  # two dots: never a key of a pair of labels
        found = memo.get(tail)
        if found is None:
            rules = self._rules
            parts = tail.split(".")
            depth = _public_depth(["", *parts], rules)  # "" stops the walk at depth four
            own = 3 - (depth + 1 if depth > 0 else 2)
            inner = self._label_verdict(parts[own], labels) if own >= 0 else 0
            extend = dict.fromkeys(rules.extensions.get(tail, ()), _WALK)
            found = memo[tail] = (extend, depth, inner)
        if not isinstance(found, tuple):
            return found  # never: the key has two dots
        extend, depth, inner = found
        fourth = name[name.rfind(".", 0, dot3) + 1 : dot3]
        if fourth in extend or depth > 3:
            return self._walk_verdict(name, labels)
        return self._label_verdict(fourth, labels) if depth == 3 else inner

    def _walk_verdict(self, name: str, labels: dict[str, int]) -> int:
        """The verdict on a name whose registrable domain needs the whole suffix list walk."""
        parts = name.split(".")
        depth = _public_depth(parts, self._rules)
        # as _check counts: with no registrable domain, the label before the last
        return self._label_verdict(
            parts[len(parts) - (depth if 0 < depth < len(parts) else 1) - 1], labels
        )

    def _label_verdict(self, label: str, labels: dict[str, int]) -> int:
        """``_SUSPECT`` if a registrable label may make a lookalike; its ends tell most apart."""
        first = self._firsts.get(label[:2])
        last = self._lasts.get(label[-2:])
        if first is None and last is None:
            return 0
        size = len(label)
        if not (
            (first is not None and first[0] <= size <= first[1])
            or (last is not None and last[0] <= size <= last[1])
            or "rn" in label  # then the skeleton is shorter than the label
            or "vv" in label
        ):
            return 0
        found = labels.get(label)
        if found is None:
            found = labels[label] = _SUSPECT if self._detector._label_suspect(label) else 0
        return found
