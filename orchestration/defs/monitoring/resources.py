"""`alerts`: where the monitoring sensors send their messages, as a Dagster resource.

Built once in orchestration/definitions.py from `Settings` like every other resource, so a sensor
tick reads no environment of its own. The two credentials, the webhook URL (its path is the
token) and the SMTP password, are `EnvVar`s (`env_credentials`): Dagster resolves them when the
sensor runs and never shows their values in the UI; ingest/redact.py masks them in every message.
"""

# No `from __future__ import annotations`: Dagster inspects resource annotations at runtime.
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from ingest.monitoring.alerts import SMTP_PASSWORD_ENV, Alerter, Channels, IncidentStore
from ingest.settings import Settings
from orchestration.lib.resources import env_credentials

WEBHOOK_URL_ENV = "TICKWH_ALERT_WEBHOOK_URL"


def _setting(attr: str):  # noqa: ANN202 - a pydantic default factory
    return lambda: getattr(Settings.from_env(), attr)


class AlertsResource(ConfigurableResource):
    """The alert channels (webhook, e-mail), the UI the messages link to and the incident store."""

    webhook_url: str | None = Field(
        default=None, repr=False, description=f'EnvVar("{WEBHOOK_URL_ENV}"): Slack-compatible webhook; unset: none'
    )
    smtp_password: str | None = Field(default=None, repr=False, description=f'EnvVar("{SMTP_PASSWORD_ENV}")')
    smtp_url: str = Field(default_factory=_setting("alert_smtp_url"), description="smtp(s)://[user@]host[:port]")
    email_to: str = Field(default_factory=_setting("alert_email_to"), description="comma-separated recipients")
    email_from: str = Field(default_factory=_setting("alert_email_from"), description="sender address")
    ui_url: str = Field(default_factory=_setting("ui_url"), description="the Dagster UI the links open")
    feed_stall_s: float = Field(default_factory=_setting("feed_stall_s"), description="live feed stalled after")
    incidents_path: str = Field(
        default_factory=lambda: str(IncidentStore.default(Settings.from_env()).path),
        description="SQLite file of open incidents (one message per incident across daemon restarts)",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertsResource":
        return cls(
            smtp_url=settings.alert_smtp_url, email_to=settings.alert_email_to, email_from=settings.alert_email_from,
            ui_url=settings.ui_url, feed_stall_s=settings.feed_stall_s,
            incidents_path=str(IncidentStore.default(settings).path),
            **env_credentials({"webhook_url": WEBHOOK_URL_ENV, "smtp_password": SMTP_PASSWORD_ENV}),
        )

    def channels(self) -> Channels:
        return Channels.create(self.webhook_url, self.smtp_url, self.email_to, self.email_from, self.smtp_password)

    def alerter(self) -> Alerter:
        return Alerter(self.channels(), IncidentStore(Path(self.incidents_path)))
