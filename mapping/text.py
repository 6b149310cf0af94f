"""Control characters in text from configs and sources: one definition for refusing them and for showing them."""
from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL and the C1 controls: what drives a terminal (ESC, bell, CR, CSI ...)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def show_controls(text: str) -> str:
    """`text` with each control character shown as its escape (`\\x1b`), so printing it cannot drive a terminal."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
