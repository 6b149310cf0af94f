"""Keep secrets and terminal control codes out of every message built from what a service answered.

Services sometimes echo the request in an error answer (a proxy's HTML page listing the headers, a login
endpoint repeating the submitted body, a driver printing its DSN). Whatever a source says passes through
`scrub` before it becomes an error, a log line, a history row or a cell:

* every credential value this process handed to a connector (env vars named by `*_env` keys, Prefect
  Secret blocks) and the parts of it a service could echo (a URL's password, an `Authorization` header's
  base64) becomes `***`;
* `Authorization: Basic ...`/`Bearer ...`, `password=...`, `"api_key": "..."`-shaped text becomes `***` even
  when the value is not one okr-sync knows (defence in depth);
* control characters (ESC, bell, carriage return ...) are shown as `\\x1b` and the like, so an answer
  cannot clear the screen, rewrite a line or plant a hyperlink in a terminal or a CI log.
"""
from __future__ import annotations

import base64
import re
import threading
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from mapping.text import show_controls

MIN_SECRET_LENGTH = 4  # shorter env values (a port, a flag) are not secrets and would mangle numbers if masked
SENSITIVE_NAMES = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "access_key",
                   "private_key", "client_secret", "authorization", "sslpassword", "x-api-key")
MASK = "***"

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_NAMES = "|".join(re.escape(name) for name in sorted(SENSITIVE_NAMES, key=len, reverse=True))
# key=value / key: value / "key": "value" where the key names a credential; the value runs to a separator
_KEY_VALUE = re.compile(rf"""(?ix)
    (?P<key>["']?[\w.-]*(?:{_NAMES})[\w.-]*["']?\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|(?:basic|bearer|token|digest)\s+[^\s"',;&<>]+|[^\s"',;&<>)}}\]]+)
""")
_AUTH_SCHEME = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{8,}")


def remember_secret(value: Any) -> None:
    """Note a credential value handed out in this process (with the parts of it a service could echo back)."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _LOCK:
        _SECRETS.update(v for v in _parts(value) if len(v) >= MIN_SECRET_LENGTH)


def remember_basic_auth(user: str, password: str) -> None:
    """Note the base64 form of `user:password` an HTTP Basic header carries."""
    remember_secret(base64.b64encode(f"{user}:{password}".encode()).decode())


def known_secrets() -> list[str]:
    """The values remembered so far, longest first (so a value containing another is masked whole)."""
    with _LOCK:
        return sorted(_SECRETS, key=len, reverse=True)


def secret_values(config: Any, env: Mapping[str, str]) -> list[str]:
    """The values of every environment variable the config names in a `*_env` key, and every value remembered
    in this process, longest first (what a message must never carry)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                    names.add(value)
                walk(value)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    walk(config.model_dump())
    values = {part for name in names for part in _parts(env.get(name) or "")} | set(known_secrets())
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` safe to show: known and `secrets` values masked (in any letter case, and in their percent-encoded,
    base64 and hex forms), credential-shaped text masked, control codes visible."""
    values = {part for secret in secrets for part in _parts(secret)} | set(known_secrets())
    ordered = sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    if ordered:
        text = re.sub("|".join(map(re.escape, ordered)), MASK, text, flags=re.IGNORECASE)
    text = _KEY_VALUE.sub(_mask_value, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return show_controls(text)


def _mask_value(match: re.Match) -> str:
    key = match.group("key").strip("\"' :=").lower()
    if key.endswith(("_env", "_secret")):  # okr-sync's own hints name config keys (`token_env: JIRA_TOKEN`), not values
        return match.group()
    if match.group("value").strip("\"'").upper() in ("YES", "NO", "TRUE", "FALSE", "NONE", "NULL", MASK):
        return match.group()  # MySQL's "(using password: YES)" says whether one was sent, not what it is
    return match.group("key") + MASK


def scrub_error(exc: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """The same exception object with its message scrubbed (its class, and so its meaning, is kept)."""
    if exc.args and isinstance(exc.args[0], str):
        clean = scrub(exc.args[0], secrets)
        if clean != exc.args[0]:
            exc.args = (clean, *exc.args[1:])
    return exc


def safe_url(url: Any) -> str:
    """A database URL as it may be shown: the password, and any query parameter naming a credential, as ***."""
    text = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") else str(url)
    base, sep, query = text.partition("?")
    if not sep:
        return text
    shown = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        shown.append(f"{key}={MASK}" if eq and any(name in key.lower() for name in SENSITIVE_NAMES) else item)
    return f"{base}?{'&'.join(shown)}"


def _encodings(value: str) -> set[str]:
    """The forms a service may echo a value in: percent-encoded (a query string, a form body), base64 (a header,
    a token), hex; the ones that differ from the value itself."""
    raw = value.encode()
    forms = {quote(value, safe=""), quote_plus(value), raw.hex(),
             base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if form != value}


def _parts(value: str) -> set[str]:
    """A secret, its encodings, and what of it a service could echo separately: a URL's password, its credential
    parameters."""
    parts = {value}
    if "://" in value:
        try:
            split = urlsplit(value)
            if split.password:
                parts |= {split.password, unquote(split.password)}
            for key, item in parse_qsl(split.query, keep_blank_values=False):
                if any(name in key.lower() for name in SENSITIVE_NAMES):
                    parts.add(item)
        except ValueError:
            pass
    return parts | {form for part in parts for form in _encodings(part)}
