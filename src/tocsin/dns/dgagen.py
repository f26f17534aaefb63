"""Small generators that imitate the domain shapes of known DGA families, for tests and figures.

Each ``<family>-like`` generator is written here from published descriptions of the family's
output (Plohmann et al., "A Comprehensive Measurement Study of Domain Generating Malware",
USENIX Security 2016, and public analyses): the alphabet, the label lengths, the kind of
construction (arithmetic on a date seed, a hash in hex, base-36 of a hash, consonant-vowel
alternation, dictionary words) and the top-level domains. They approximate the character
distributions; they are not the malware's algorithms and do not reproduce its domains.

The DGA model is never trained on these: they are only used to measure it (docs/dns-dga.md).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from datetime import date

from tocsin.core.errors import InvalidInputError

__all__ = ["FAMILIES", "KINDS", "generate"]

FAMILIES: dict[str, str] = {
    "cryptolocker": "arithmetic: 12-15 random letters from a date-seeded shift/xor state; "
    "seven TLDs (com, net, biz, ru, org, co.uk, info)",
    "ramnit": "arithmetic: 8-19 letters a-y from a Park-Miller generator; .com",
    "tinba": "arithmetic: 12 letters, each name derived from the one before; a few TLDs",
    "bamital": "hash: the 32 hex digits of an MD5 of date and counter; info, org, com, net",
    "dyre": "hash: one letter and 33 hex digits of a SHA-256; cc, ws, to, in, hk, cn, tk, so",
    "gameover": "letters+digits: a hash written in base 36, 20-28 characters; com, net, org, biz",
    "simda": "pronounceable: consonant-vowel alternation of 7-11 letters; com, net, info, eu",
    "suppobox": "wordlist: two English words joined; net, com",
    "matsnu": "wordlist: two to four words, sometimes hyphenated, up to 24 characters; com",
}
"""Family -> one-line description; the text before the colon is its kind."""

KINDS: dict[str, str] = {family: text.split(":", 1)[0] for family, text in FAMILIES.items()}
"""Family -> kind (arithmetic, hash, letters+digits, pronounceable, wordlist)."""

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_MASK64 = (1 << 64) - 1

# A small English word list written for these generators (common words, three to eight letters).
_WORDS = tuple(
    """
    able about above account across action active actor add address admit adult advice
    affect after again agent agree ahead alarm album alert alive allow almost alone along
    already animal answer anyone apple april area argue arm army around arrive art article
    artist aside ask attack author autumn avoid award away baby back bad bag balance ball band
    bank base basket battle beach bear beat beauty become bed before begin behind believe bell
    below best better between big bird birth black blade blank blind block blood blue board
    boat body bone book border born borrow boss bottle bottom box brain branch brave bread
    break bridge brief bright bring broad brother brown brush budget build burn business busy
    button buyer cabin cable cake call calm camera camp canal candle capital captain car card
    care carry case castle cat catch cause center chain chair chance change charge cheap check
    cheese chest chief child choice church circle city claim class clean clear climb clock
    close cloud coach coast coffee cold collect color column comfort common copper corner
    cotton count country county couple course court cover crazy cream credit crew crowd cruel
    culture cup current curve custom cycle daily damage dance danger dark data daughter dead
    deal dear debate decide deep degree delay demand depth desert design desk detail device
    differ dinner direct doctor dog dollar door double doubt dozen draft drama dream dress
    drink drive drop dry during duty eager early earth east easy edge effect effort eight
    either elder empty enemy energy engine enjoy enough enter entire equal escape estate
    evening event ever exact example exist expect expert extra face fact factor fair faith
    fall family famous farm fashion father fault favor fear feature field fifteen fight figure
    final finger finish fire first fish five flat flight floor flower fly focus follow food
    foot force forest forget form former forward frame free fresh friend front fruit fuel
    full fund funny future gain game garden gate gather general gentle giant gift girl glass
    global goal gold golden good grace grand grass great green ground group grow guard guess
    guest guide habit hair half hall hand handle happy harbor hard heart heat heavy height
    help hero hidden high hill history hold hole holiday home honest hope horse hospital hotel
    hour house human humor hunt idea image impact income index inside iron island issue item
    jacket join joke journey judge juice jump junior justice keep kettle key kind king kitchen
    knife knock label labor lady lake land large last late laugh launch lawyer layer leader
    learn leather leave legal lemon length lesson letter level library life light limit line
    lion liquid list little live local lock long loose loss lucky lunch machine magic main
    major manner map march margin market master match matter meal measure media medium member
    memory metal method middle might mile milk mind minor minute mirror mission mix model
    modern moment money month moon morning mother motor mount mouse mouth move movie music
    narrow nation native nature near neck needle nerve never night noble noise normal north
    note notice novel number nurse object ocean offer office often oil old open orange order
    other outer owner oxygen page paint pair palace panel paper parent park party pass past
    path patient pattern peace pencil people pepper period person phone piano picture piece
    pilot place plain plan plant plate player pocket poem point police pool poor popular port
    post potato pound power press price pride print prize profit proof proud public pull
    purple quarter queen quick quiet radio rain raise range rapid rate reach ready real reason
    record red region remote repair report rest result rich ride right ring river road rock
    roof room root rough round route royal rubber rule safe salt sample sand save scale scene
    school science screen sea season seat second secret sense series serve seven shadow shape
    share sharp sheet shelf shell shift ship shirt shoe short shoulder show side sign silver
    simple singer single sister size skill sky sleep slice slow small smart smile smoke smooth
    snow social soft soil soldier solid song sound source south space speak speed spirit
    spring square staff stage stamp stand star start state station steel step stick still
    stock stone store storm story street strong student study style sugar summer sun supply
    sure surface sweet swim table tail talent task taste teacher team temple tennis term test
    theory thick thin third thought thread throat ticket tiger timber tiny title today tone
    tool tooth topic total touch tower town track trade train travel tree trick truck trust
    truth turn twelve twenty uncle under union unit upper urban usual valley value vessel
    video view village visit voice volume wage wait walk wall warm wash watch water wave
    wealth weather week weight west wheel white whole wide wife wild window winter wire wise
    woman wonder wood word work world worry writer yard year yellow young youth zone
    """.split()
)

_CONSONANTS = "bcdfghjklmnpqrstvwxz"
_VOWELS = "aeiouy"


def _seed_value(seed: int | date) -> int:
    """A 64-bit seed: a date becomes yyyymmdd, so every day has its own names (as DGAs do)."""
    if isinstance(seed, date):
        return seed.year * 10000 + seed.month * 100 + seed.day
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInputError(f"DGA seed must be an int or a date, not {seed!r}")
    return seed & _MASK64


def _date_parts(seed: int | date) -> tuple[int, int, int]:
    if isinstance(seed, date):
        return seed.year, seed.month, seed.day
    value = _seed_value(seed)
    return 2000 + value % 64, 1 + (value >> 6) % 12, 1 + (value >> 10) % 28


def _splitmix(state: int) -> Iterator[int]:
    """An endless stream of 64-bit values (SplitMix64 arithmetic)."""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        yield z ^ (z >> 31)


def _cryptolocker(seed: int | date, index: int) -> str:
    year, month, day = _date_parts(seed)
    day += index  # one name per step, from the same date
    length = 12 + ((year ^ month ^ day) % 4)
    state = (_seed_value(seed) << 16) ^ index
    out = []
    for _ in range(length):
        # three small xorshift registers, seeded by the date's parts, mixed once per character
        day = (((day ^ (day << 8)) & 0xFFFFFFFF) >> 11) ^ (((day & 0xFFFFFFF0) << 12) & 0xFFFFFFFF)
        month = (((month ^ (month << 2)) & 0xFFFFFFFF) >> 25) ^ (
            ((month & 0xFFFFFFF8) << 2) & 0xFFFFFFFF
        )
        year = (((year ^ (year << 13)) & 0xFFFFFFFF) >> 19) ^ (
            ((year & 0xFFFFFFFE) << 12) & 0xFFFFFFFF
        )
        state = (state * 6364136223846793005 + 1442695040888963407) & _MASK64
        out.append(_LETTERS[((day ^ month ^ year) + (state >> 33)) % 26])
    tlds = ("com", "net", "biz", "ru", "org", "co.uk", "info")
    return "".join(out) + "." + tlds[index % len(tlds)]


def _ramnit_stream(seed: int | date) -> Iterator[str]:
    state = (_seed_value(seed) % 2147483646) + 1
    while True:
        state = state * 16807 % 2147483647  # Park-Miller "minimal standard" step
        length = 8 + state % 12
        chars = []
        for _ in range(length):
            state = state * 16807 % 2147483647
            chars.append(_LETTERS[state % 25])  # 25, not 26: the family never writes "z"
        yield "".join(chars) + ".com"


def _tinba_stream(seed: int | date) -> Iterator[str]:
    # each name comes from the previous one: its characters are summed into the next
    previous = hashlib.blake2b(str(_seed_value(seed)).encode(), digest_size=6).hexdigest()
    tlds = ("com", "net", "in", "ru", "biz", "pw", "us")
    index = 0
    while True:
        total = sum(previous.encode())
        chars = []
        for position in range(12):
            total = (total * 31 + ord(previous[position % len(previous)]) + position) & 0xFFFFFF
            chars.append(_LETTERS[(total >> 7) % 26])
        previous = "".join(chars)
        yield previous + "." + tlds[(index // 50) % len(tlds)]
        index += 1


def _bamital(seed: int | date, index: int) -> str:
    digest = hashlib.md5(  # noqa: S324  # the family's own shape, not a security use
        f"bamital-like|{_seed_value(seed)}|{index}".encode()
    ).hexdigest()
    return digest + "." + ("info", "org", "com", "net")[index % 4]


def _dyre(seed: int | date, index: int) -> str:
    digest = hashlib.sha256(f"dyre-like|{_seed_value(seed)}|{index}".encode()).hexdigest()
    tlds = ("cc", "ws", "to", "in", "hk", "cn", "tk", "so")
    return _LETTERS[index % 26] + digest[:33] + "." + tlds[index % len(tlds)]


def _gameover(seed: int | date, index: int) -> str:
    key = f"gameover-like|{_seed_value(seed)}|{index}".encode()
    digest = hashlib.md5(key).digest()  # noqa: S324  # the family's shape, not a security use
    length = 20 + digest[0] % 9
    chars: list[str] = []
    while len(chars) < length:
        value = int.from_bytes(digest, "little")
        # 16 bytes hold 24 base-36 digits; hash again for longer names
        for _ in range(24):
            value, digit = divmod(value, 36)
            chars.append(_BASE36[digit])
        digest = hashlib.md5(digest).digest()  # noqa: S324
    return "".join(chars[:length]) + "." + ("com", "net", "org", "biz")[index % 4]


def _simda_stream(seed: int | date) -> Iterator[str]:
    values = _splitmix(_seed_value(seed) ^ 0x51DA)
    tlds = ("com", "net", "info", "eu")
    index = 0
    while True:
        length = 7 + next(values) % 5
        consonant_first = next(values) % 2 == 0
        chars = []
        for position in range(length):
            pool = _CONSONANTS if (position % 2 == 0) == consonant_first else _VOWELS
            chars.append(pool[next(values) % len(pool)])
        yield "".join(chars) + "." + tlds[index % len(tlds)]
        index += 1


def _suppobox_stream(seed: int | date) -> Iterator[str]:
    rng = random.Random(f"suppobox-like|{_seed_value(seed)}")  # noqa: S311  # not for secrets
    while True:
        first, second = rng.choice(_WORDS), rng.choice(_WORDS)
        if first != second:
            yield f"{first}{second}." + ("net", "com")[rng.random() < 0.3]


def _matsnu_stream(seed: int | date) -> Iterator[str]:
    rng = random.Random(f"matsnu-like|{_seed_value(seed)}")  # noqa: S311  # not for secrets
    while True:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 4))]
        text = words[0]
        for word in words[1:]:
            joined = text + ("-" if rng.random() < 0.25 else "") + word
            if len(joined) > 24:
                break
            text = joined
        if len(text) >= 8:
            yield text + ".com"


def _indexed(make: Callable[[int | date, int], str]) -> Callable[[int | date], Iterator[str]]:
    def stream(seed: int | date) -> Iterator[str]:
        index = 0
        while True:
            yield make(seed, index)
            index += 1

    return stream


_STREAMS: dict[str, Callable[[int | date], Iterator[str]]] = {
    "cryptolocker": _indexed(_cryptolocker),
    "ramnit": _ramnit_stream,
    "tinba": _tinba_stream,
    "bamital": _indexed(_bamital),
    "dyre": _indexed(_dyre),
    "gameover": _indexed(_gameover),
    "simda": _simda_stream,
    "suppobox": _suppobox_stream,
    "matsnu": _matsnu_stream,
}


def generate(family: str, seed: int | date, count: int) -> list[str]:
    """``count`` distinct domain names of a ``<family>-like`` generator, the same for one seed."""
    stream_of = _STREAMS.get(family)
    if stream_of is None:
        raise InvalidInputError(
            f"unknown DGA family {family!r}; known: {', '.join(sorted(FAMILIES))}"
        )
    if count < 0:
        raise InvalidInputError(f"DGA name count must be positive, not {count!r}")
    seen: dict[str, None] = {}
    stream = stream_of(seed)
    # repeats are rare; the bound stops a family whose name space ran out (it cannot here)
    for _ in range(count * 20 + 100):
        if len(seen) >= count:
            break
        seen.setdefault(next(stream), None)
    return list(seen)
