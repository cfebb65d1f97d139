"""E-mail for local mode: what SNS would have e-mailed the topics' subscribers, in an mbox file.

The local topics have the deployed stack's e-mail subscriptions (`alert_emails` for the alerts topic, `ops_emails`
for the ops topic, or alerts@localhost / ops@localhost when none are configured). moto accepts e-mail subscriptions
but delivers nothing to them; `local.moto_server.SnsEmail` hands each notification for one of them to an `Inbox`,
and the `Mailbox` writes what the inbox holds to the mbox file, one message per subscription. Any mail client opens
the file (Thunderbird: Import, mutt: `mutt -f run/mailbox.mbox`), and `python -m mailbox` style tools read it.

Until issue 20 every topic delivered to an SQS queue instead, which the mailbox drained: at a shard's rate that hop
(SNS signing each envelope, SQS send, receive and delete, all in moto) cost about 15 % of local mode's CPU.
The inbox is bounded, and a notification leaves it only once it is in the file, so a mailbox that is behind or being
restarted after an error loses nothing: publishers wait while it is full (see `Inbox.put`).
"""

from __future__ import annotations

import binascii
import email
import email.policy
import mailbox
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from local.bounded import RecentLog

SENDER = "AWS Notifications <no-reply@sns.amazonaws.com>"
# E-mails kept in memory for the live view and the demo's summary (`len(delivered)` still counts all of them; the
# mbox file has every message): `python -m local up` runs for hours and must not grow with every alert.
KEEP_DELIVERED = 1000
FOOTER = (
    "\n\n--\nThis message was delivered by streamlake's local mode in place of an Amazon SNS e-mail "
    "subscription to {topic}.\n"
)


# Notifications waiting for the mailbox. At the shard's rate of alerts (a few hundred a second) the mailbox writes
# this many in well under a second; more waiting means it is stuck, and publishers are made to wait.
INBOX_CAPACITY = 10_000
# How long a publisher waits for room before its publish fails (SNS answers 500; the processor retries the record).
INBOX_PUT_TIMEOUT_SECONDS = 30.0


class InboxFullError(RuntimeError):
    """The mailbox did not make room in time: the notification was not accepted (the publisher may retry)."""


@dataclass(frozen=True)
class Notification:
    """One SNS notification for one e-mail subscription, as `local.moto_server.SnsEmail` hands it over."""

    topic_arn: str
    recipient: str
    subject: str | None
    message: str
    message_id: str
    timestamp: datetime


class Inbox:
    """A bounded queue of notifications between SNS (any thread publishing) and the mailbox (one writer).

    `put` waits while the inbox is full; the mailbox `peek`s, writes, and only then `remove`s, so a crash between
    the two delivers again rather than losing mail (as the SQS queue did)."""

    def __init__(self, capacity: int = INBOX_CAPACITY) -> None:
        self.capacity = capacity
        self._items: deque[Notification] = deque()
        self._changed = threading.Condition()

    def put(self, notification: Notification, timeout: float = INBOX_PUT_TIMEOUT_SECONDS) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) < self.capacity, timeout):
                raise InboxFullError(f"the local mailbox holds {self.capacity} undelivered e-mails")
            self._items.append(notification)
            self._changed.notify_all()

    def peek(self, limit: int) -> list[Notification]:
        with self._changed:
            return [self._items[i] for i in range(min(limit, len(self._items)))]

    def remove(self, count: int) -> None:
        with self._changed:
            for _ in range(count):
                self._items.popleft()
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for something to deliver; returns whether there is."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._items), timeout)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Delivered:
    topic_arn: str
    recipient: str
    subject: str
    body: str


class Mailbox:
    """`deliver_pending()` moves the inbox's notifications into the mbox file; `run(stop)` does it continuously."""

    def __init__(self, *, inbox: Inbox, path: Path, keep_delivered: int = KEEP_DELIVERED) -> None:
        self.inbox = inbox
        self.path = path
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
                self.inbox.wait(interval)
        self.deliver_pending()
        self.close()

    def deliver_pending(self, batch: int = 500) -> int:
        """Deliver what the inbox holds now; returns the number of e-mails written."""
        written = 0
        with self._lock:
            while True:
                notifications = self.inbox.peek(batch)
                if not notifications:
                    return written
                box = self._open()
                try:
                    box.lock()
                    for notification in notifications:
                        box.add(self._email(notification))
                        written += 1
                    box.flush()
                    self._size_written = self.path.stat().st_size
                finally:
                    box.unlock()
                # Only after the mail is on disk: a crash before this point redelivers, it does not lose mail.
                self.inbox.remove(len(notifications))

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

    def _email(self, notification: Notification) -> bytes:
        topic, recipient = notification.topic_arn, notification.recipient
        subject = notification.subject or "AWS Notification Message"
        message_id = make_msgid(idstring=notification.message_id, domain="sns.local")
        body = notification.message
        mail = render_email(recipient, subject, notification.timestamp, message_id, body + FOOTER.format(topic=topic))
        self.delivered.append(Delivered(topic, recipient, subject, body))
        return mail


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
