"""Send alerts through Prefect notification blocks (Slack, Microsoft Teams, a generic webhook) and remember them.

Delivery is at least once, aiming at exactly once: each alert is sent, then its new state is stored at
once (its own small transaction), so a message is repeated only if the process dies in the instant
between the webhook's answer and that write. An alert that no block could deliver is not stored: the
next sync sends it again if the change still holds (and says nothing if it was undone meanwhile).
A block that cannot be loaded or refuses a message is one warning naming the block; it never fails the sync.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Optional

from connectors.redaction import scrub, secret_values
from mapping.alerts import Alert, transitions
from mapping.config import Config
from mapping.results import KRResult

log = logging.getLogger("okr_sync")


def inert(text: str) -> str:
    """Text from configs and sources made harmless for chat markup: `<!channel>`, `<@U1>` and `<url|label>` are
    Slack commands and `<at>`/HTML are Teams markup, so angle brackets become look-alike ‹ › (readable everywhere)."""
    return text.replace("<", "‹").replace(">", "›")


def load_block(name: str) -> Any:
    """The Prefect notification block `<block type>/<block name>` (read from the Prefect API)."""
    from prefect.blocks.core import Block

    return Block.load(name)


def _why(exc: BaseException) -> str:
    """Why a send failed, without the exception text (an HTTP error's text holds the webhook URL, itself a secret)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return f"HTTP {status}" if status is not None else type(exc).__name__


def deliver(alert: Alert, blocks: Mapping[str, Any]) -> bool:
    """Send one alert through every loaded block; True when at least one accepted it."""
    delivered = False
    for name, block in blocks.items():
        try:
            if hasattr(block, "raise_on_failure"):  # Apprise blocks (Slack, Teams) otherwise only log a failure
                with block.raise_on_failure():
                    block.notify(alert.text, subject=alert.title)
            else:
                block.notify(alert.text, subject=alert.title)
            delivered = True
        except Exception as exc:  # noqa: BLE001 - one bad destination must not stop the others or the sync
            log.warning("alert %r not delivered through notification block %r (%s); check the block's URL with "
                        "`prefect block inspect %s`", alert.title, name, _why(exc), name)
    return delivered


def send_alerts(config: Config, history: Any, results: Mapping[str, KRResult], sources: Mapping[str, str],
                run_id: str, now: datetime, env: Mapping[str, str],
                loader: Callable[[str], Any] = load_block) -> list[Alert]:
    """Compare this sync with the remembered alert state, announce each change that needs it, remember them all.

    Returns the alerts delivered. Never raises for a block or a message; a history error propagates.
    """
    if config.alerts is None:
        return []
    changes = transitions(config, results, sources, history.alert_states(), now)
    quiet = [c for c in changes if c.silent]
    if quiet:
        history.remember_alerts(quiet, run_id, now)
    loud = [c for c in changes if not c.silent]
    if not loud:
        return []
    blocks = _load_blocks(config.alerts.notify, loader)
    secrets = secret_values(config, env)
    sent: list[Alert] = []
    for alert in loud:
        safe = Alert(alert.kind, alert.subject, alert.old, alert.new, inert(scrub(alert.title, secrets)), inert(scrub(alert.text, secrets)))
        if blocks and deliver(safe, blocks):
            history.remember_alerts([alert], run_id, now, notified=True)
            sent.append(safe)
    if len(sent) < len(loud):
        log.warning("%d of %d alerts were not delivered; the next sync tries them again", len(loud) - len(sent), len(loud))
    return sent


def _load_blocks(names: list[str], loader: Callable[[str], Any]) -> dict[str, Optional[Any]]:
    blocks: dict[str, Any] = {}
    for name in names:
        try:
            blocks[name] = loader(name)
        except Exception as exc:  # noqa: BLE001 - no API, no block, wrong name: say which and what to do
            log.warning("notification block %r cannot be loaded (%s); create it (see README, Alerts) and check PREFECT_API_URL",
                        name, type(exc).__name__)
    return blocks
