"""Code size of each implementation: the non-blank lines of ``architectures/<arch>/fw_<fw>.py`` that
hold code, counted with Python's own ``tokenize`` (comments, blank lines and docstrings excluded;
a statement spread over several lines counts every line it spans). Shared helpers that a file
imports (``harness/frameworks/<fw>.py``) are not counted: they serve every architecture."""
from __future__ import annotations

import io
import tokenize
from pathlib import Path

from harness import registry

_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}
_STATEMENT_START = {None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def _docstrings(tokens: list[tokenize.TokenInfo]) -> set[int]:
    """Indices of string tokens that form a statement on their own (docstrings and bare strings):
    a STRING at the start of a statement followed directly by the statement's end."""
    out = set()
    prev = None
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.STRING and prev in _STATEMENT_START:
            nxt = next((t for t in tokens[i + 1:] if t.type not in (tokenize.NL, tokenize.COMMENT)), None)
            if nxt is None or nxt.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                out.add(i)
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok.type
    return out


def code_lines(source: str) -> int:
    """Lines of ``source`` that carry at least one code token (not a comment or a docstring)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    skip = _docstrings(tokens)
    lines: set[int] = set()
    for i, tok in enumerate(tokens):
        if tok.type in _LAYOUT or i in skip:
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def implementation_lines(architecture: str, framework: str) -> int | None:
    """Code lines of one implementation file; None when it is missing, declared unsupported (its
    file only says why) or does not tokenize."""
    impl = registry.implementation(architecture, framework)
    if impl.status != "implemented":
        return None
    try:
        return code_lines(Path(impl.path).read_text(encoding="utf-8"))
    except (OSError, tokenize.TokenError, SyntaxError):
        return None
