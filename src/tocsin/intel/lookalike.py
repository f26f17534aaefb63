"""Lookalike domains of the organisation's protected domains: generate them, recognise them.

``permutations`` makes the typo, homoglyph and bit-flip variants a squatter registers, with the
techniques dnstwist popularised (the code and tables are written here). ``LookalikeDetector``
turns them into one dictionary when it is built, and adds what a fixed list cannot hold:
punycode and Unicode confusables (compared by their skeleton, after the idea of Unicode TR39),
names within a small Damerau-Levenshtein distance, the protected name under another suffix,
and the protected name embedded in a longer name (``paypal-verify.net``,
``paypal.com.secure-login.xyz``). A check is a few dictionary probes, two Aho-Corasick scans
and a rapidfuzz distance for the rare candidates, and its answer is cached, so every sender
and link of every message can afford it.

Registrable domains come from the Public Suffix List shipped inside ``publicsuffixlist``;
nothing is ever fetched.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import ahocorasick_rs
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
