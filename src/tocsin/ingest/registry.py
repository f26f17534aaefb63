"""Finding parsers: by id through the plugin registry, or by sniffing content (``auto``)."""

from __future__ import annotations

from typing import cast

from tocsin.core.errors import InvalidInputError, NotFoundError
from tocsin.core.plugins import Registry, default_registry
from tocsin.ingest.base import Parser

GROUP = "tocsin.parsers"


class ParserSet:
    """The parsers of a registry, instantiated once."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self._parsers: dict[str, Parser] | None = None

    def all(self) -> dict[str, Parser]:
        """Every loadable parser by id."""
        if self._parsers is None:
            loaded = self.registry.load_all(GROUP)
            self._parsers = {pid: cast(Parser, cls()) for pid, cls in loaded.items()}
        return self._parsers

    def get(self, parser_id: str) -> Parser:
        """The parser with this id."""
        parser = self.all().get(parser_id)
        if parser is None:
            known = ", ".join(sorted(self.all()))
            raise NotFoundError(f"unknown format {parser_id!r}: use auto or one of {known}")
        return parser

    def detect(self, head: bytes, *, source: str = "input") -> Parser:
        """Pick the parser whose ``sniff`` is most confident about ``head``.

        Raises:
            InvalidInputError: when no parser recognises the content.
        """
        best: tuple[int, str] | None = None
        for parser_id, parser in self.all().items():
            try:
                score = parser.sniff(head)
            except Exception:  # noqa: S112 - a faulty plugin sniff must not stop detection
                continue
            if score > 0 and (best is None or score > best[0]):
                best = (score, parser_id)
        if best is None:
            raise InvalidInputError(
                "cannot tell the format from the content: pass --format", source=source
            )
        return self.all()[best[1]]
