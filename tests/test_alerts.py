"""Alerts: one message per transition (KR status, failed source, no fresh value for max_age), never repeated,
delivered through a Prefect notification block to a webhook on 127.0.0.1, with nothing secret in it."""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.history import HistoryStore
from connectors.notify import send_alerts
from connectors.redaction import scrub, secret_values
from flows.pipeline import history_scope, run_sync
from mapping.alerts import AlertState, max_age, transitions
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.results import KRResult

T0 = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)

CONFIG = """\
period: 2026-Q4
workspace: plant
history: sqlite:///history.db
sources:
  mes: {{kind: sql, url: "sqlite:///mes.db"}}
  erp: {{kind: sql, url_env: ERP_URL, max_age: 36h}}
objectives:
  - id: ops
    title: Run the plant well
    key_results:
      - id: uptime
        title: Line uptime at least 90%
        type: at_least
        baseline: 0
        target: 90
        unit: "%"
        owner: Plant manager
        metric: {{source: mes, sql: "SELECT value FROM kpi WHERE name = 'uptime'"}}
      - id: scrap
        title: Scrap at most 2%
        type: at_most
        baseline: 5
        target: 2
        unit: "%"
        metric: {{source: erp, sql: "SELECT value FROM scrap"}}
alerts:
  notify: [{notify}]
{extra}"""


def write(folder: Path, notify: str = "custom-webhook/okr-test", extra: str = "") -> Path:
    path = folder / "okrs.yaml"
    path.write_text(CONFIG.format(notify=notify, extra=extra), encoding="utf-8")
    return path


def result(kr_id: str, status: str = "on_track", value: float | None = 95.0, error: str = "", as_of: datetime | None = T0,
           source: str = "mes", stale_since: datetime | None = None) -> KRResult:
    return KRResult("ops", kr_id, value, 0.5, 0.5, 0.5, status, as_of=as_of, source=source, error=error,
                    stale_since=stale_since or (as_of if error else None))


def step(config, results, sources, states, now):
    """One sync of the pure rules: the changes, and the state remembered afterwards (every change delivered)."""
    changes = transitions(config, {r.kr_id: r for r in results}, sources, states, now)
    states = dict(states)
    states.update({(c.kind, c.subject): AlertState(c.kind, c.subject, c.new, now) for c in changes})
    return [c for c in changes if not c.silent], states


# ---- the transition rules (pure) ------------------------------------------------------------------------

def test_a_kr_turning_off_track_is_announced_once_and_its_recovery_once(tmp_path):
    config = load_config(write(tmp_path), check_env=False)
    ok = {"mes": "", "erp": ""}
    states: dict = {}
    said, states = step(config, [result("uptime"), result("scrap", source="erp")], ok, states, T0)
    assert said == [] and states[("status", "uptime")].state == "on_track"  # a first look at a fine KR says nothing
    said, states = step(config, [result("uptime", "off_track", 10.0), result("scrap", source="erp")], ok, states, T0)
    assert [(a.kind, a.subject, a.old, a.new) for a in said] == [("status", "uptime", "on_track", "off_track")]
    assert 'KR uptime "Line uptime at least 90%" is now off_track (was on_track)' in said[0].text
    assert "Value 10%, target 90%" in said[0].text and "owner Plant manager" in said[0].text
    assert "workspace plant" in said[0].text and "period 2026-Q4" in said[0].text
    said, states = step(config, [result("uptime", "off_track", 9.0), result("scrap", source="erp")], ok, states, T0)
    assert said == []  # the same state is never announced twice
    said, states = step(config, [result("uptime", "at_risk", 60.0), result("scrap", source="erp")], ok, states, T0)
    assert [(a.old, a.new) for a in said] == [("off_track", "at_risk")] and said[0].title == "KR uptime is at_risk"
    said, states = step(config, [result("uptime", "on_track"), result("scrap", source="erp")], ok, states, T0)
    assert [(a.old, a.new) for a in said] == [("at_risk", "on_track")] and "is on_track again (was at_risk)" in said[0].text
    said, states = step(config, [result("uptime", "done"), result("scrap", source="erp")], ok, states, T0)
    assert said == [] and states[("status", "uptime")].state == "done"  # remembered, not announced


def test_a_first_look_at_a_kr_already_off_track_is_announced(tmp_path):
    config = load_config(write(tmp_path), check_env=False)
    said, _ = step(config, [result("uptime", "off_track", 5.0)], {"mes": ""}, {}, T0)
    assert [(a.old, a.new) for a in said] == [("", "off_track")] and "(was not checked before)" in said[0].text


def test_when_and_recovered_choose_what_is_said(tmp_path):
    config = load_config(write(tmp_path, extra="  when: [off_track]\n  recovered: false\n"), check_env=False)
    states: dict = {}
    said, states = step(config, [result("uptime", "at_risk", 60.0)], {"mes": "source 'mes': boom"}, states, T0)
    assert said == [] and ("source", "mes") not in states  # at_risk and failed sources are not watched
    said, states = step(config, [result("uptime", "off_track", 10.0)], {"mes": ""}, states, T0)
    assert [a.new for a in said] == ["off_track"]
    said, states = step(config, [result("uptime", "on_track")], {"mes": ""}, states, T0)
    assert said == [] and states[("status", "uptime")].state == "on_track"  # recovery remembered silently


def test_a_failed_source_is_announced_once_and_a_stale_kr_keeps_its_status(tmp_path):
    config = load_config(write(tmp_path), check_env=False)
    states: dict = {}
    _, states = step(config, [result("scrap", source="erp")], {"erp": ""}, states, T0)
    broken = result("scrap", "off_track", 1.0, error="source 'erp': no such table: scrap", source="erp")
    said, states = step(config, [broken], {"erp": "source 'erp': no such table: scrap"}, states, T0 + timedelta(hours=1))
    assert [(a.kind, a.new) for a in said] == [("source", "failed")]  # not "scrap is off_track": its status is stale
    assert said[0].text.startswith("Source 'erp' failed: no such table: scrap. Its KRs keep their last good value, marked stale: scrap.")
    said, states = step(config, [broken], {"erp": "source 'erp': another error"}, states, T0 + timedelta(hours=2))
    assert said == []  # still failed (with another message): not repeated
    said, states = step(config, [result("scrap", source="erp", as_of=T0 + timedelta(hours=3))], {"erp": ""}, states, T0 + timedelta(hours=3))
    assert [(a.kind, a.old, a.new) for a in said] == [("source", "failed", "ok")]
    assert said[0].text.startswith("Source 'erp' answers again (it had failed since 2026-11-10 09:00 UTC).")


def test_max_age_with_a_fixed_clock(tmp_path):
    config = load_config(write(tmp_path, extra="  when: [stale]\n"), check_env=False)
    kr = {k.id: k for _, k in config.key_results()}
    assert max_age(config, kr["scrap"]) == timedelta(hours=36) and max_age(config, kr["uptime"]) is None
    states: dict = {}
    _, states = step(config, [result("scrap", source="erp")], {"erp": ""}, states, T0)
    assert states[("age", "scrap")].state == "ok"
    failing = result("scrap", value=1.5, error="source 'erp': down", source="erp", as_of=T0, stale_since=T0 + timedelta(days=1))
    said, states = step(config, [failing], {"erp": "down"}, states, T0 + timedelta(hours=36))
    assert said == []  # exactly max_age old is not yet too old
    said, states = step(config, [failing], {"erp": "down"}, states, T0 + timedelta(hours=36, minutes=1))
    assert [(a.kind, a.subject, a.new) for a in said] == [("age", "scrap", "stale")]
    assert 'KR scrap "Scrap at most 2%" has had no fresh value for 36 hours (max_age 36 hours): last value 1.5% read 2026-11-10 08:00 UTC.' in said[0].text
    said, states = step(config, [failing], {"erp": "down"}, states, T0 + timedelta(days=5))
    assert said == []
    fresh = result("scrap", value=1.2, source="erp", as_of=T0 + timedelta(days=6))
    said, states = step(config, [fresh], {"erp": ""}, states, T0 + timedelta(days=6))
    assert [(a.old, a.new) for a in said] == [("stale", "ok")] and "has a fresh value again: 1.2%" in said[0].text


def test_a_kr_max_age_overrides_its_source_and_a_kr_that_never_had_a_value_counts_from_its_first_failure(tmp_path):
    path = write(tmp_path, extra="  when: [stale]\n")
    path.write_text(path.read_text().replace("        unit: \"%\"\n        metric: {source: erp", "        unit: \"%\"\n        max_age: 2d\n        metric: {source: erp"))
    config = load_config(path, check_env=False)
    assert max_age(config, dict((k.id, k) for _, k in config.key_results())["scrap"]) == timedelta(days=2)
    never = result("scrap", "no_data", None, error="down", source="erp", as_of=None, stale_since=T0)
    said, _ = step(config, [never], {"erp": "down"}, {}, T0 + timedelta(days=3))
    assert [a.new for a in said] == ["stale"] and "no value was ever read; its source has failed since 2026-11-10 08:00 UTC" in said[0].text


def test_bad_alert_settings_name_the_line_and_what_to_write(tmp_path):
    path = write(tmp_path, notify="okr-test")
    path.write_text(path.read_text().replace("max_age: 36h", "max_age: 36 hours"))
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    text = str(info.value)
    assert "'36 hours' is not a duration; write e.g. 36h, 2d" in text
    assert "notification block 'okr-test' must be written <block type>/<block name>" in text
    assert "okrs.yaml:6: sources.erp.max_age" in text and "okrs.yaml:27: alerts.notify" in text


def test_secrets_of_the_config_are_masked_in_every_message(tmp_path):
    config = load_config(write(tmp_path), check_env=False)
    env = {"ERP_URL": "postgresql://okr:hunter2-canary@db/erp", "UNRELATED": "not-named-in-the-config"}
    secrets = secret_values(config, env)
    assert {"postgresql://okr:hunter2-canary@db/erp", "hunter2-canary"} <= set(secrets) and "not-named-in-the-config" not in secrets
    assert scrub("cannot connect to postgresql://okr:hunter2-canary@db/erp", secrets) == "cannot connect to ***"
    assert scrub("password authentication failed (hunter2-canary)", secrets) == "password authentication failed (***)"


def test_chat_markup_in_titles_and_errors_is_made_inert():
    from connectors.notify import inert

    assert inert('KR "Ship <!channel> <@U024BE7LH> <https://evil.example|click>"') == 'KR "Ship ‹!channel› ‹@U024BE7LH› ‹https://evil.example|click›"'
    assert inert("plain text & numbers 5 > 3") == "plain text & numbers 5 › 3"


class FakeBlock:
    def __init__(self, fail: bool = False):
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def notify(self, body: str, subject: str | None = None) -> None:
        if self.fail:
            raise RuntimeError("http://hooks.example.com/secret-path refused")
        self.sent.append((subject or "", body))


def test_an_undelivered_alert_is_sent_again_at_the_next_sync_and_a_bad_block_is_a_warning(tmp_path, caplog):
    config = load_config(write(tmp_path, notify="custom-webhook/good, custom-webhook/bad, slack-webhook/missing"), check_env=False)
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=history_scope(config))
    env = {"ERP_URL": "sqlite:////secret/erp-canary.db"}
    down = {"scrap": result("scrap", "on_track", 1.0, error="source 'erp': cannot open sqlite:////secret/erp-canary.db", source="erp")}
    blocks = {"custom-webhook/good": FakeBlock(fail=True), "custom-webhook/bad": FakeBlock(fail=True)}

    def loader(name):
        if name not in blocks:
            raise ValueError(f"Unable to find block document named {name}")
        return blocks[name]

    assert send_alerts(config, store, down, {"erp": down["scrap"].error}, "r1", T0, env, loader) == []
    assert ("source", "erp") not in store.alert_states()  # not delivered: not remembered (the quiet age check is)
    assert "notification block 'slack-webhook/missing' cannot be loaded (ValueError)" in caplog.text
    assert "not delivered through notification block 'custom-webhook/bad' (RuntimeError)" in caplog.text
    assert "secret-path" not in caplog.text and "erp-canary" not in caplog.text
    blocks["custom-webhook/good"].fail = False
    sent = send_alerts(config, store, down, {"erp": down["scrap"].error}, "r2", T0 + timedelta(hours=1), env, loader)
    assert [a.title for a in sent] == ["source erp failed"] and len(blocks["custom-webhook/good"].sent) == 1
    assert "cannot open ***" in blocks["custom-webhook/good"].sent[0][1] and "erp-canary" not in blocks["custom-webhook/good"].sent[0][1]
    assert store.alert_states()[("source", "erp")].state == "failed"
    assert send_alerts(config, store, down, {"erp": down["scrap"].error}, "r3", T0 + timedelta(hours=2), env, loader) == []
    assert len(blocks["custom-webhook/good"].sent) == 1
    store.close()


# ---- end to end: syncs, a Prefect webhook block, a receiver on 127.0.0.1 -----------------------------------

class Receiver:
    """A webhook on 127.0.0.1 that keeps every body it is sent; `status` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[str]:
        titles = [b["title"] for b in self.bodies]
        self.bodies.clear()
        return titles


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def kpi(folder: Path, uptime: float) -> None:
    db = sqlite3.connect(folder / "mes.db")
    db.execute("CREATE TABLE IF NOT EXISTS kpi (name TEXT, value REAL)")
    db.execute("DELETE FROM kpi")
    db.execute("INSERT INTO kpi VALUES ('uptime', ?)", (uptime,))
    db.commit()
    db.close()


def erp(folder: Path, scrap: float | None) -> None:
    db = sqlite3.connect(folder / "erp.db")
    db.execute("DROP TABLE IF EXISTS scrap")
    if scrap is not None:
        db.execute("CREATE TABLE scrap (value REAL)")
        db.execute("INSERT INTO scrap VALUES (?)", (scrap,))
    db.commit()
    db.close()


def test_webhook_gets_exactly_one_message_per_transition(prefect_harness, receiver, tmp_path, monkeypatch):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"okr-alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="okr-sync", url=receiver.url,
                                   json_data={"title": "{{subject}}", "text": "{{body}}"}).save(name, overwrite=True)
    canary = f"sqlite:///{tmp_path / 'erp.db'}"
    monkeypatch.setenv("ERP_URL", canary)
    config = load_config(write(tmp_path, notify=f"custom-webhook/{name}"))
    day = lambda n: T0 + timedelta(days=n)  # noqa: E731
    seen: list[dict] = []

    def sync(n: int, uptime: float, scrap: float | None, **kwargs) -> list[str]:
        kpi(tmp_path, uptime)
        erp(tmp_path, scrap)
        run_sync(config, day(n), **kwargs)
        seen.extend(receiver.bodies)
        return receiver.take()

    assert sync(0, 95, 1.0) == []  # first sync: everything fine, nothing to say
    assert sync(1, 10, 1.0) == ["KR uptime is off_track"]
    assert sync(2, 11, 1.0) == []  # still off_track: not repeated
    assert sync(2, 12, 1.0, write=False) == []  # a preview never alerts
    assert sync(3, 95, 1.0) == ["KR uptime is on_track again"]
    assert sync(4, 95, None) == ["source erp failed"]  # scrap keeps its last value, 24 h old
    assert sync(5, 95, None) == ["KR scrap has no fresh value"]  # 48 h > max_age 36h; the source is not announced again
    assert sync(6, 95, None) == []
    assert sync(7, 95, 1.1) == ["source erp answers again", "KR scrap is fresh again"]
    assert sync(8, 95, 1.1) == []

    receiver.status = 500  # the webhook is down: the transition is tried again at the next sync, then said once
    assert sync(9, 10, 1.1) == ["KR uptime is off_track"]
    receiver.status = 200
    assert sync(10, 10, 1.1) == ["KR uptime is off_track"]
    assert sync(11, 10, 1.1) == []

    texts = [b["text"] for b in seen]
    assert any("Source 'erp' failed: " in t and "no such table: scrap" in t for t in texts)
    assert not any(canary in t or str(tmp_path) in t for t in texts)  # the *_env value (and its path) never leave
    store = HistoryStore(config.history.replace("///", f"///{tmp_path}/"), scope=history_scope(config))
    assert store.alert_states()[("status", "uptime")].state == "off_track"
    store.close()


def test_an_as_of_run_never_alerts(prefect_harness, receiver, tmp_path, monkeypatch):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"okr-alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="okr-sync", url=receiver.url, json_data={"title": "{{subject}}", "text": "{{body}}"}).save(name)
    monkeypatch.setenv("ERP_URL", f"sqlite:///{tmp_path / 'erp.db'}")
    kpi(tmp_path, 10)
    erp(tmp_path, 1.0)
    config = load_config(write(tmp_path, notify=f"custom-webhook/{name}"))
    run_sync(config, T0, as_of=T0.date() - timedelta(days=3))  # past day: undated queries fail, KRs go off_track...
    assert receiver.take() == []  # ...and nobody is told
    run_sync(config, T0)
    assert receiver.take() == ["KR uptime is off_track"]


def test_the_prefect_flow_alerts_too(prefect_harness, receiver, tmp_path, monkeypatch):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows.sync import sync_okrs

    name = f"okr-alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="okr-sync", url=receiver.url, json_data={"title": "{{subject}}", "text": "{{body}}"}).save(name)
    monkeypatch.setenv("ERP_URL", f"sqlite:///{tmp_path / 'erp.db'}")
    kpi(tmp_path, 10)
    erp(tmp_path, None)
    path = write(tmp_path, notify=f"custom-webhook/{name}")
    state = sync_okrs(str(path), now=T0, return_state=True)
    assert state.is_failed()  # erp failed: the flow run says so, and the alerts went out anyway
    assert sorted(receiver.take()) == ["KR uptime is off_track", "source erp failed"]
    assert sync_okrs(str(path), now=T0 + timedelta(hours=1), return_state=True).is_failed()
    assert receiver.take() == []


def test_a_notification_block_listed_twice_is_refused(tmp_path):
    path = write(tmp_path, notify="slack-webhook/ops, slack-webhook/ops")
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    assert "notification block 'slack-webhook/ops' is listed twice (every message would be sent twice); list it once" in str(info.value)
