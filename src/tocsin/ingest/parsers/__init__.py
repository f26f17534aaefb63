"""Built-in parsers; each registers through the ``tocsin.parsers`` entry-point group."""
