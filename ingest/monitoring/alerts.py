"""Alerts that reach someone: one message per incident to a webhook and by e-mail, one on recovery.

Plain Python (no Dagster): the sensors in orchestration/defs/monitoring/ say which incidents are
open and which cleared; this module decides what to send, sends it and remembers what it sent.

* An incident has a key naming what is wrong (`late:raw_trades:2026-12-04`,
  `run:daily_pipeline:2026-12-04`, `check:ohlcv_1m:ohlcv_1m_suite:2026-12-04`, `feed:TRADES`).
  `IncidentStore` (SQLite under $TICKWH_HOME/monitoring) keeps the open ones. An incident already
  open sends nothing, so a retried run, a failed retry or the next sensor tick is no second message.
  Its clearing sends one recovery and closes it. The store survives daemon restarts.
* A channel that cannot be reached leaves the incident marked "not yet sent": the next tick
  tries again. Nothing is lost and nothing is sent twice.
* Channels come from Settings (TICKWH_ALERT_WEBHOOK_URL, TICKWH_ALERT_SMTP_URL, TICKWH_ALERT_EMAIL_TO,
  TICKWH_ALERT_EMAIL_FROM) and the SMTP password from TICKWH_ALERT_SMTP_PASSWORD; in Dagster through
  the `alerts` resource (orchestration/defs/monitoring/resources.py: URL and password as `EnvVar`s). The webhook URL
  is a credential (its path is the token): it is registered with ingest/redact.py, so no log line
  or error message shows it, and neither does the password.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ingest import redact
from ingest.errors import SettingError
from ingest.settings import Settings

log = logging.getLogger(__name__)

FIRING = "FIRING"
RESOLVED = "RESOLVED"
SMTP_PASSWORD_ENV = "TICKWH_ALERT_SMTP_PASSWORD"


@dataclass(frozen=True)
class Alert:
    """What an operator reads: the asset, the day, the failure in one line and where to look."""

    key: str  # the incident: one message while it stays open
    kind: str  # run_failed, check_failed, late, feed_stalled
    asset: str  # asset, job or stream
    day: str  # the partition day(s), or "" when none applies
    summary: str  # one line
    url: str  # the run (or the asset) in the Dagster UI

    def title(self, state: str) -> str:
        day = f" {self.day}" if self.day else ""
        what = self.kind.replace("_", " ")
        return f"[tickwh] {state} {what}: {self.asset}{day}"

    def text(self, state: str) -> str:
        line = self.summary if state == FIRING else f"cleared (was: {self.summary})"
        return f"{self.title(state)}\n{one_line(line)}\n{self.url}"


def one_line(text: str, limit: int = 300) -> str:
    """The failure in one line: whitespace collapsed, cut at `limit`, secrets masked."""
    flat = " ".join(redact.redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class Channels:
    webhook_url: str = ""
    smtp_url: str = ""
    email_to: tuple[str, ...] = ()
    email_from: str = "tickwh@localhost"
    timeout_s: float = 10.0
    smtp_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Channels:
        """Outside Dagster (the Dagster sensors get theirs from the `alerts` resource, whose
        credentials are `EnvVar`s): the password is read from its variable here, where it is used."""
        return cls.create(settings.alert_webhook_url, settings.alert_smtp_url, settings.alert_email_to,
                          settings.alert_email_from, os.environ.get(SMTP_PASSWORD_ENV))

    @classmethod
    def create(cls, webhook_url: str | None, smtp_url: str | None, email_to: str, email_from: str,
               smtp_password: str | None = None) -> Channels:
        """Checked channels, their secrets registered with ingest/redact.py before anything can print them."""
        webhook_url, smtp_url = webhook_url or "", smtp_url or ""
        to = tuple(a.strip() for a in email_to.split(",") if a.strip())
        if smtp_url and not to:
            raise SettingError("TICKWH_ALERT_SMTP_URL is set but TICKWH_ALERT_EMAIL_TO is empty: who gets the mail?")
        if smtp_url and urlsplit(smtp_url).scheme not in ("smtp", "smtps"):
            raise SettingError("TICKWH_ALERT_SMTP_URL must look like smtp://[user@]host[:port] or smtps://...")
        if webhook_url:
            # The whole URL is the credential of an incoming webhook (the token is its path).
            redact.register(webhook_url)
            redact.register(urlsplit(webhook_url).path.strip("/"))
        redact.register(smtp_password)
        return cls(webhook_url, smtp_url, to, email_from or "tickwh@localhost", smtp_password=smtp_password or None)

    @property
    def configured(self) -> list[str]:
        return [n for n, on in (("webhook", self.webhook_url), ("email", self.smtp_url)) if on]

    def send(self, alert: Alert, state: str) -> list[str]:
        """Send to every configured channel; the names of those that failed (each logged, redacted)."""
        failed = []
        for name, fn in (("webhook", self._webhook), ("email", self._email)):
            if name not in self.configured:
                continue
            try:
                fn(alert, state)
            except Exception as exc:  # a channel down must not stop the other one, nor the sensor
                log.warning("alert %s via %s failed: %s", alert.key, name, one_line(f"{type(exc).__name__}: {exc}"))
                failed.append(name)
        return failed

    def _webhook(self, alert: Alert, state: str) -> None:
        # Slack's incoming-webhook format: `text` (mrkdwn, `<url|label>` links) is all it needs;
        # Mattermost, Rocket.Chat and Teams' Slack-compatible endpoints read the same field.
        icon = ":red_circle:" if state == FIRING else ":large_green_circle:"
        line = alert.summary if state == FIRING else f"cleared (was: {alert.summary})"
        body = {
            "text": f"{icon} *{alert.title(state)}*\n{one_line(line)}\n<{alert.url}|open in Dagster>",
            "tickwh": {"state": state, **asdict(alert), "summary": one_line(alert.summary)},
        }
        req = urllib.request.Request(
            self.webhook_url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - configured URL
            if resp.status >= 300:
                raise RuntimeError(f"webhook answered HTTP {resp.status}")

    def _email(self, alert: Alert, state: str) -> None:
        url = urlsplit(self.smtp_url)
        msg = EmailMessage()
        msg["Subject"] = alert.title(state)
        msg["From"] = self.email_from
        msg["To"] = ", ".join(self.email_to)
        msg["X-Tickwh-Incident"] = alert.key
        msg.set_content(alert.text(state) + "\n")
        password = self.smtp_password or (unquote(url.password) if url.password else None)
        port = url.port or (465 if url.scheme == "smtps" else 25)
        host = url.hostname or "localhost"
        if url.scheme == "smtps":
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self.timeout_s,
                                                    context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=self.timeout_s)
        with server:
            if url.scheme == "smtp" and password and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
            if url.username and password:
                server.login(unquote(url.username), password)
            server.send_message(msg)


@dataclass
class IncidentStore:
    """Open incidents, durable: one SQLite file (a few rows), shared by every sensor process."""

    path: Path

    @classmethod
    def default(cls, settings: Settings) -> IncidentStore:
        return cls(settings.monitoring_dir / "incidents.sqlite")

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        con.execute(
            "CREATE TABLE IF NOT EXISTS incidents (key TEXT PRIMARY KEY, alert TEXT NOT NULL, "
            "opened_at REAL NOT NULL, notified INTEGER NOT NULL DEFAULT 0)"
        )
        return con

    def open_incidents(self, prefix: str = "") -> dict[str, tuple[Alert, bool]]:
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT key, alert, notified FROM incidents WHERE key LIKE ? || '%'", [prefix]
            ).fetchall()
        return {k: (Alert(**json.loads(a)), bool(n)) for k, a, n in rows}

    def open(self, alert: Alert) -> bool:
        """Record `alert` as open; False when it already was."""
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT OR IGNORE INTO incidents (key, alert, opened_at) VALUES (?, ?, ?)",
                [alert.key, json.dumps(asdict(alert)), time.time()],
            )
            return cur.rowcount == 1

    def mark_notified(self, key: str) -> None:
        with closing(self._connect()) as con, con:
            con.execute("UPDATE incidents SET notified = 1 WHERE key = ?", [key])

    def close(self, key: str) -> None:
        with closing(self._connect()) as con, con:
            con.execute("DELETE FROM incidents WHERE key = ?", [key])


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)  # "FIRING <key>" / "RESOLVED <key>"
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{len(self.sent)} sent"] + ([f"{len(self.failed)} not delivered (retried next tick)"]
                                               if self.failed else [])
        return ", ".join(parts)


@dataclass
class Alerter:
    channels: Channels
    store: IncidentStore

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Alerter:
        settings = settings or Settings.from_env()
        return cls(Channels.from_settings(settings), IncidentStore.default(settings))

    def update(self, firing: Iterable[Alert], cleared: Iterable[str]) -> Outcome:
        """Open what fires (one message each, once), close what cleared (one recovery each)."""
        out = Outcome()
        known = self.store.open_incidents()
        for alert in firing:
            if alert.key in known and known[alert.key][1]:
                continue  # open and announced: a retry or another tick of the same incident
            self.store.open(alert)
            failed = self.channels.send(alert, FIRING)
            if failed:
                out.failed.append(f"{FIRING} {alert.key}")
            else:
                self.store.mark_notified(alert.key)
                out.sent.append(f"{FIRING} {alert.key}")
        for key in cleared:
            if key not in known:
                continue
            alert, notified = known[key]
            if notified:  # nobody heard of it: no recovery to announce
                failed = self.channels.send(alert, RESOLVED)
                if failed:
                    out.failed.append(f"{RESOLVED} {key}")
                    continue
                out.sent.append(f"{RESOLVED} {key}")
            self.store.close(key)
        for line in out.sent:
            log.info("alert %s", line)
        return out

    def open_keys(self, prefix: str) -> set[str]:
        return set(self.store.open_incidents(prefix))
