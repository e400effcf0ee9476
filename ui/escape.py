"""Text as HTML text: everything from a question or a document goes through `esc` before it is shown."""

from __future__ import annotations

import html


def esc(text: str) -> str:
    """Text as HTML text: ``<img …>`` shows as the characters, never as an element."""
    return html.escape(text, quote=True)


def text_block(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return esc(text).replace("\n", "<br>")
