"""E-mail for local mode: what SNS would have e-mailed the topics' subscribers, in an mbox file.

Every local topic also delivers to one SQS queue (local.resources); this drains it and writes one message per
subscriber address from the config (`alert_emails` for the alerts topic, `ops_emails` for the ops topic, or
alerts@localhost / ops@localhost when none are configured). Any mail client opens the file (Thunderbird: Import,
mutt: `mutt -f run/mailbox.mbox`), and `python -m mailbox` style tools read it.
"""

from __future__ import annotations

import binascii
import email
import email.policy
import json
import mailbox
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from local.bounded import RecentLog

SENDER = "AWS Notifications <no-reply@sns.amazonaws.com>"
# E-mails kept in memory for the live view and the demo's summary (`len(delivered)` still counts all of them; the
# mbox file has every message): `python -m local up` runs for hours and must not grow with every alert.
KEEP_DELIVERED = 1000
FOOTER = (
    "\n\n--\nThis message was delivered by streamlake's local mode in place of an Amazon SNS e-mail "
    "subscription to {topic}.\n"
)


@dataclass(frozen=True)
class Delivered:
    topic_arn: str
    recipient: str
    subject: str
    body: str


class Mailbox:
    """`deliver_pending()` moves queued notifications into the mbox file; `run(stop)` does it continuously."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        path: Path,
        recipients: dict[str, tuple[str, ...]],
        keep_delivered: int = KEEP_DELIVERED,
    ) -> None:
        self._sqs = sqs
        self._queue = queue_url
        self.path = path
        self._recipients = recipients
        self._lock = threading.Lock()
        self.delivered: RecentLog[Delivered] = RecentLog(keep_delivered)
        # The mbox stays open between deliveries: opening one reads the whole file to index it, so reopening it for
        # every batch made delivery slower as the mailbox grew, until alerts queued up faster than they were written.
        self._box: mailbox.mbox | None = None
        self._size_written = -1
        path.parent.mkdir(parents=True, exist_ok=True)

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        while not stop.is_set():
            if not self.deliver_pending():
                stop.wait(interval)
        self.deliver_pending()
        self.close()

    def deliver_pending(self) -> int:
        """Deliver what is queued now; returns the number of e-mails written."""
        written = 0
        with self._lock:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    return written
                box = self._open()
                try:
                    box.lock()
                    for message in messages:
                        for mail in self._emails(json.loads(message["Body"])):
                            box.add(mail)
                            written += 1
                    box.flush()
                    self._size_written = self.path.stat().st_size
                finally:
                    box.unlock()
                # Only after the mail is on disk: a crash before this point redelivers, it does not lose mail.
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )

    def close(self) -> None:
        with self._lock:
            if self._box is not None:
                self._box.close()
                self._box = None

    def _open(self) -> mailbox.mbox:
        """The open mbox, reopened (re-indexed) if the file changed since this mailbox last wrote it."""
        size = self.path.stat().st_size if self.path.exists() else -1
        if self._box is None or size != self._size_written:
            if self._box is not None:
                self._box.close()
            self._box = mailbox.mbox(self.path, create=True)
        return self._box

    def _emails(self, envelope: dict[str, Any]) -> list[bytes]:
        topic = envelope.get("TopicArn", "")
        subject = envelope.get("Subject") or "AWS Notification Message"
        body = envelope.get("Message", "")
        sent = envelope.get("Timestamp")
        date = datetime.fromisoformat(sent.replace("Z", "+00:00")) if sent else datetime.now(UTC)
        emails = []
        for recipient in self._recipients.get(topic, ()):
            message_id = make_msgid(idstring=envelope.get("MessageId"), domain="sns.local")
            emails.append(render_email(recipient, subject, date, message_id, body + FOOTER.format(topic=topic)))
            self.delivered.append(Delivered(topic, recipient, subject, body))
        return emails


def _header(name: str, value: str) -> bytes:
    value = " ".join(value.splitlines())
    if value.isascii():
        return f"{name}: {value}\n".encode("ascii")
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode()}\n".encode("ascii")


def render_email(recipient: str, subject: str, date: datetime, message_id: str, body: str) -> bytes:
    """One plain-text UTF-8 message (RFC 5322 and MIME, quoted-printable body) as mbox stores it.

    Written by hand rather than with `email.message.EmailMessage`: its header registry and generator cost more than
    the rest of delivering an alert, and the mailbox receives one message per alert per recipient."""
    head = b"".join(
        _header(name, value)
        for name, value in (
            ("From", SENDER),
            ("To", recipient),
            ("Subject", subject),
            ("Date", format_datetime(date)),
            ("Message-ID", message_id),
        )
    )
    mime = (
        b'MIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n'
    )
    # A line starting "From " would be escaped by mbox (">From "); in quoted-printable its F can be written =46.
    text = b"\n" + binascii.b2a_qp(body.encode("utf-8"))
    return head + mime + text.replace(b"\nFrom ", b"\n=46rom ")


def read_mailbox(path: Path) -> list[EmailMessage]:
    """Messages in an mbox file, oldest first (for tests and the demo's summary)."""
    if not path.exists():
        return []
    box = mailbox.mbox(
        path, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default), create=False
    )
    try:
        return [message for message in box]
    finally:
        box.close()
