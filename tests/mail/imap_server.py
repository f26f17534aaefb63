"""A small IMAP4rev1 server for tests, on 127.0.0.1, over TLS when given a context.

It is a fake at the public IMAP seam: tocsin's side is the real ``imaplib``. It knows the
commands the report mailbox uses (CAPABILITY, LOGIN, SELECT, CREATE, UID SEARCH, UID FETCH
with a literal body, UID STORE, UID COPY, UID MOVE, UID EXPUNGE, EXPUNGE, NOOP, LOGOUT) over an
in-memory store that the test fills and inspects. Every command line is logged (LOGIN without
its arguments), so a test can check what the client asked for.
"""

from __future__ import annotations

import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

INBOX = "INBOX"


@dataclass
class StoredMessage:
    """One message in a folder of the store."""

    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)
    internaldate: datetime = field(default_factory=lambda: datetime.now(UTC))


class MailStore:
    """The server's folders; safe to use from the test while the server runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folders: dict[str, list[StoredMessage]] = {INBOX: []}
        self.uid_next: dict[str, int] = {INBOX: 1}

    def add(
        self,
        raw: bytes,
        folder: str = INBOX,
        *,
        flags: set[str] | None = None,
        internaldate: datetime | None = None,
    ) -> int:
        """Deliver a message; returns its UID."""
        with self.lock:
            uid = self._next_uid(folder)
            message = StoredMessage(uid, raw, set(flags or ()))
            if internaldate is not None:
                message.internaldate = internaldate
            self.folders[folder].append(message)
            return uid

    def create(self, folder: str) -> None:
        """An empty folder."""
        with self.lock:
            self.folders.setdefault(folder, [])
            self.uid_next.setdefault(folder, 1)

    def flags(self, uid: int, folder: str = INBOX) -> set[str] | None:
        """The flags of a message, or None when the folder no longer holds it."""
        with self.lock:
            for message in self.folders.get(folder, []):
                if message.uid == uid:
                    return set(message.flags)
        return None

    def messages(self, folder: str = INBOX) -> list[StoredMessage]:
        """A snapshot of a folder."""
        with self.lock:
            return list(self.folders.get(folder, []))

    def _next_uid(self, folder: str) -> int:
        self.folders.setdefault(folder, [])
        uid = self.uid_next.setdefault(folder, 1)
        self.uid_next[folder] = uid + 1
        return uid


class ImapTestServer(socketserver.ThreadingTCPServer):
    """The server: ``with ImapTestServer(store, ...) as server:`` then connect to ``.port``."""

    # the sessions are joined on close, so no socket outlives the test (warnings are errors)
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(
        self,
        store: MailStore,
        *,
        username: str,
        password: str,
        context: ssl.SSLContext | None,
        capabilities: tuple[str, ...] = ("MOVE", "UIDPLUS"),
        echo_password: bool = True,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.store = store
        self.username = username
        self.password = password
        self.context = context
        self.capabilities = capabilities
        # a careless server that repeats the refused password: the client must not pass it on
        self.echo_password = echo_password
        self.log: list[str] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server_address[1])

    def __enter__(self) -> ImapTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def handle_error(self, request: object, client_address: object) -> None:
        """Keep the error for the test instead of printing it."""
        import sys

        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown"))


class _Session(socketserver.StreamRequestHandler):
    server: ImapTestServer
    timeout = 10

    def setup(self) -> None:
        self.tls_failed = False
        if self.server.context is not None:
            self.request.settimeout(self.timeout)
            try:
                self.request = self.server.context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.tls_failed = True  # the client refused our certificate: that is the test
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client is gone
        finally:
            # the server closes the socket it accepted, not the TLS one wrapped around it
            self.request.close()

    def handle(self) -> None:
        if self.tls_failed:
            return
        self.user: str | None = None
        self.folder: str | None = None
        self.send(b"* OK tocsin test IMAP server ready")
        while True:
            line = self.read_command()
            if line is None:
                return
            tag, _, rest = line.partition(" ")
            words = _tokens(rest)
            if not words or not isinstance(words[0], str):
                self.send(f"{tag} BAD empty command".encode())
                continue
            command = words[0].upper()
            args = words[1:]
            if command == "UID" and args and isinstance(args[0], str):
                command = "UID " + args[0].upper()
                args = args[1:]
            self.server.log.append("LOGIN" if command == "LOGIN" else rest)
            if command == "LOGOUT":
                self.send(b"* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed".encode())
                return
            try:
                status = self.dispatch(command, args)
            except (ValueError, IndexError, TypeError, KeyError) as exc:
                status = f"BAD {exc}"
            self.send(f"{tag} {status}".encode())

    def read_command(self) -> str | None:
        try:
            line = self.rfile.readline(65536)
        except (OSError, ssl.SSLError):
            return None
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        while text.endswith("}") and "{" in text:  # a literal from the client
            size = int(text[text.rindex("{") + 1 : -1])
            self.send(b"+ go ahead")
            literal = self.rfile.read(size).decode("utf-8", "replace")
            more = self.rfile.readline(65536).decode("utf-8", "replace").rstrip("\r\n")
            text = text[: text.rindex("{")] + _quoted(literal) + more
        return text

    def send(self, data: bytes) -> None:
        self.wfile.write(data + b"\r\n")
        self.wfile.flush()

    # -- commands ----------------------------------------------------------------------------

    def dispatch(self, command: str, args: list[object]) -> str:
        if command == "CAPABILITY":
            self.send(("* CAPABILITY IMAP4rev1 " + " ".join(self.server.capabilities)).encode())
            return "OK CAPABILITY completed"
        if command == "NOOP":
            return "OK NOOP completed"
        if command == "LOGIN":
            user, password = str(args[0]), str(args[1])
            if user == self.server.username and password == self.server.password:
                self.user = user
                return "OK LOGIN completed"
            said = f" with password {password}" if self.server.echo_password else ""
            return f"NO [AUTHENTICATIONFAILED] invalid credentials for {user}{said}"
        if self.user is None:
            return "BAD log in first"
        if command == "SELECT":
            return self.select(str(args[0]))
        if command == "CREATE":
            with self.server.store.lock:
                if str(args[0]) in self.server.store.folders:
                    return "NO [ALREADYEXISTS] folder exists"
            self.server.store.create(str(args[0]))
            return "OK CREATE completed"
        if self.folder is None:
            return "BAD select a folder first"
        handlers = {
            "UID SEARCH": self.uid_search,
            "UID FETCH": self.uid_fetch,
            "UID STORE": self.uid_store,
            "UID COPY": lambda a: self.uid_copy(a, move=False),
            "UID MOVE": lambda a: self.uid_copy(a, move=True),
            "UID EXPUNGE": lambda a: self.expunge(str(a[0])),
            "EXPUNGE": lambda a: self.expunge(None),
        }
        if command == "UID MOVE" and "MOVE" not in self.server.capabilities:
            return "BAD MOVE is not supported"
        if command == "UID EXPUNGE" and "UIDPLUS" not in self.server.capabilities:
            return "BAD UIDPLUS is not supported"
        handler = handlers.get(command)
        if handler is None:
            return f"BAD unknown command {command}"
        return handler(args)

    def select(self, folder: str) -> str:
        store = self.server.store
        with store.lock:
            if folder not in store.folders:
                self.folder = None
                return "NO [NONEXISTENT] no such folder"
            messages = store.folders[folder]
            self.folder = folder
            self.send(f"* {len(messages)} EXISTS".encode())
            self.send(b"* 0 RECENT")
            self.send(rb"* FLAGS (\Seen \Deleted \Flagged \Answered \Draft)")
            self.send(b"* OK [UIDVALIDITY 1] UIDs valid")
            self.send(f"* OK [UIDNEXT {store.uid_next[folder]}] next UID".encode())
        return "OK [READ-WRITE] SELECT completed"

    def matching(self, uid_set: str) -> list[tuple[int, StoredMessage]]:
        """(sequence number, message) of the folder's messages in a UID set."""
        messages = self.server.store.folders[self.folder or INBOX]
        top = max((m.uid for m in messages), default=0)
        wanted: list[tuple[int, int]] = []
        for piece in uid_set.split(","):
            low, _, high = piece.partition(":")
            first = top if low == "*" else int(low)
            last = first if not high else (top if high == "*" else int(high))
            wanted.append((min(first, last), max(first, last)))
        return [
            (seq, m)
            for seq, m in enumerate(messages, 1)
            if any(low <= m.uid <= high for low, high in wanted)
        ]

    def uid_search(self, args: list[object]) -> str:
        criteria = {str(a).upper() for a in args}
        with self.server.store.lock:
            found = [
                m.uid
                for m in self.server.store.folders[self.folder or INBOX]
                if "UNSEEN" not in criteria or "\\Seen" not in m.flags
            ]
        self.send(("* SEARCH " + " ".join(map(str, found))).rstrip().encode())
        return "OK SEARCH completed"

    def uid_fetch(self, args: list[object]) -> str:
        items = args[1] if isinstance(args[1], list) else [args[1]]
        names = [str(i).upper() for i in items]
        with self.server.store.lock:
            for seq, message in self.matching(str(args[0])):
                parts = [f"UID {message.uid}"]
                literal = None
                for name in names:
                    if name == "RFC822.SIZE":
                        parts.append(f"RFC822.SIZE {len(message.raw)}")
                    elif name == "INTERNALDATE":
                        when = message.internaldate.astimezone(UTC)
                        parts.append(f'INTERNALDATE "{when:%d-%b-%Y %H:%M:%S} +0000"')
                    elif name in ("BODY[]", "BODY.PEEK[]"):
                        literal = message.raw
                        if name == "BODY[]":
                            message.flags.add("\\Seen")
                    elif name == "FLAGS":
                        pass  # written below, after a BODY[] that may set \Seen
                    elif name != "UID":
                        raise ValueError(f"fetch item {name} is not supported here")
                if "FLAGS" in names:
                    parts.append(f"FLAGS ({' '.join(sorted(message.flags))})")
                head = f"* {seq} FETCH ({' '.join(parts)}"
                if literal is None:
                    self.send(head.encode() + b")")
                else:
                    self.wfile.write(head.encode() + f" BODY[] {{{len(literal)}}}\r\n".encode())
                    self.wfile.write(literal)
                    self.send(b")")
        return "OK FETCH completed"

    def uid_store(self, args: list[object]) -> str:
        operation = str(args[1]).upper()
        flags = {str(f) for f in (args[2] if isinstance(args[2], list) else [args[2]])}
        with self.server.store.lock:
            for seq, message in self.matching(str(args[0])):
                if operation.startswith("+FLAGS"):
                    message.flags |= flags
                elif operation.startswith("-FLAGS"):
                    message.flags -= flags
                elif operation.startswith("FLAGS"):
                    message.flags = set(flags)
                else:
                    raise ValueError(f"store operation {operation} is not supported")
                if not operation.endswith(".SILENT"):
                    shown = " ".join(sorted(message.flags))
                    self.send(f"* {seq} FETCH (UID {message.uid} FLAGS ({shown}))".encode())
        return "OK STORE completed"

    def uid_copy(self, args: list[object], *, move: bool) -> str:
        target = str(args[1])
        store = self.server.store
        with store.lock:
            if target not in store.folders:
                return "NO [TRYCREATE] no such folder"
            chosen = self.matching(str(args[0]))
            for _seq, message in chosen:
                copied = StoredMessage(
                    store._next_uid(target), message.raw, set(message.flags), message.internaldate
                )
                if move:
                    copied.flags.discard("\\Deleted")
                store.folders[target].append(copied)
            if move:
                source = store.folders[self.folder or INBOX]
                for seq, message in sorted(chosen, key=lambda c: c[0], reverse=True):
                    source.remove(message)
                    self.send(f"* {seq} EXPUNGE".encode())
        return f"OK {'MOVE' if move else 'COPY'} completed"

    def expunge(self, uid_set: str | None) -> str:
        store = self.server.store
        with store.lock:
            messages = store.folders[self.folder or INBOX]
            allowed = {m.uid for _s, m in self.matching(uid_set)} if uid_set else None
            for seq in range(len(messages), 0, -1):
                message = messages[seq - 1]
                if "\\Deleted" in message.flags and (allowed is None or message.uid in allowed):
                    del messages[seq - 1]
                    self.send(f"* {seq} EXPUNGE".encode())
        return "OK EXPUNGE completed"


def _tokens(text: str) -> list[object]:
    """Atoms and quoted strings as str, parenthesised lists as lists."""
    stack: list[list[object]] = [[]]
    i = 0
    while i < len(text):
        char = text[i]
        if char == " ":
            i += 1
        elif char == "(":
            stack.append([])
            i += 1
        elif char == ")":
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif char == '"':
            value, i = [], i + 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                value.append(text[i])
                i += 1
            stack[-1].append("".join(value))
            i += 1
        else:
            end = i
            while end < len(text) and text[end] not in ' ()"':
                end += 1
            stack[-1].append(text[i:end])
            i = end
    return stack[0]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_server_context(cert: object, key: object) -> ssl.SSLContext:
    """A server-side TLS context from PEM files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context
