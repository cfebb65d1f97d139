"""Long-running local mode keeps bounded memory: the mailbox's and the alarm evaluator's in-memory logs."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from local.bounded import RecentLog
from local.mailbox import Inbox, InboxFullError, Mailbox, read_mailbox
from local.moto_server import SnsEmail


def test_recent_log_counts_everything_and_keeps_the_last_entries():
    # GIVEN a log keeping 3 entries WHEN 5 are appended
    log: RecentLog[str] = RecentLog(3)
    for letter in "abcde":
        log.append(letter)
    # THEN it counts 5 and holds the last 3, oldest first
    assert len(log) == log.total == 5
    assert list(log) == ["c", "d", "e"]


def test_a_reader_gets_what_was_appended_since_its_position_as_far_as_it_is_kept():
    log: RecentLog[int] = RecentLog(4)
    for n in range(3):
        log.append(n)
    assert log.since(0) == ([0, 1, 2], 3)
    assert log.since(3) == ([], 3)
    for n in range(3, 10):
        log.append(n)
    # a reader at position 8 missed two entries; one at 3 missed seven, of which only the last 4 are kept
    assert log.since(8) == ([8, 9], 10)
    assert log.since(3) == ([6, 7, 8, 9], 10)


def test_recent_log_rejects_a_zero_size():
    with pytest.raises(ValueError):
        RecentLog(0)


def test_readers_and_a_writer_on_different_threads_never_see_a_torn_log():
    log: RecentLog[int] = RecentLog(50)
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        position = 0
        while not stop.is_set():
            fresh, position = log.since(position)
            if fresh != sorted(fresh) or len(fresh) > 50:
                problems.append(f"{fresh}")

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(20_000):
        log.append(n)
    stop.set()
    reader.join()
    assert problems == [] and len(log) == 20_000 and list(log) == list(range(19_950, 20_000))


@pytest.fixture
def mail_queue(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns = boto3.client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ana@example.com")
        inbox = Inbox()
        SnsEmail.deliver_to(topic, inbox.put)
        try:
            yield sns, inbox, topic
        finally:
            SnsEmail.remove(topic)


def test_mailbox_keeps_the_recent_mail_in_memory_counts_all_and_writes_all_to_the_file(mail_queue, tmp_path):
    # GIVEN a mailbox that keeps 10 e-mails in memory
    sns, inbox, topic = mail_queue
    box = Mailbox(inbox=inbox, path=tmp_path / "m.mbox", keep_delivered=10)
    # WHEN 25 alerts are published and delivered
    for n in range(25):
        sns.publish(TopicArn=topic, Subject=f"alert {n}", Message=f"body {n}")
    while box.deliver_pending():
        pass
    box.close()
    # THEN the count says 25, memory holds the last 10, and the mbox file has all 25
    assert len(box.delivered) == 25
    written = read_mailbox(tmp_path / "m.mbox")
    assert sorted(m["Subject"] for m in written) == sorted(f"alert {n}" for n in range(25))
    # (the queue may hand messages over in any order: the last 10 are the last 10 written to the file)
    assert [d.subject for d in box.delivered] == [m["Subject"] for m in written[-10:]]
    # and a live view that had copied 20 gets the 5 new ones
    fresh, position = box.delivered.since(20)
    assert len(fresh) == 5 and position == 25


def test_local_cloudwatch_drops_datapoints_older_than_its_retention(monkeypatch):
    # GIVEN moto's CloudWatch with the local-mode patch, pruning every 3 datapoints
    from datetime import UTC, datetime, timedelta

    from moto.cloudwatch.models import CloudWatchBackend

    import local.moto_server as moto_server

    moto_server.patch_moto_cloudwatch()
    monkeypatch.setattr(moto_server, "METRIC_PRUNE_EVERY", 3)
    backend = CloudWatchBackend("us-east-1", "123456789012")
    now = datetime.now(UTC)

    def put(name: str, age: timedelta) -> None:
        backend.put_metric_data("Test", [{"MetricName": name, "Value": 1.0, "Timestamp": now - age}])

    # WHEN two datapoints from 4 h ago and one from a minute ago are put (the third put triggers a prune)
    put("old-1", timedelta(hours=4))
    put("old-2", timedelta(hours=3, minutes=1))
    put("fresh", timedelta(minutes=1))
    # THEN only the fresh one is left (retention 3 h), and later datapoints are kept until the next prune
    assert [d.name for d in backend.metric_data] == ["fresh"]
    put("also-old", timedelta(hours=5))
    assert [d.name for d in backend.metric_data] == ["fresh", "also-old"]


def test_recent_datapoints_reads_naive_timestamps_as_utc():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from local.moto_server import recent_datapoints

    cutoff = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    points = [
        SimpleNamespace(timestamp=datetime(2026, 12, 2, 11, 59)),  # naive, before
        SimpleNamespace(timestamp=datetime(2026, 12, 2, 12, 0)),  # naive, at the cutoff: kept
        SimpleNamespace(timestamp="2026-12-02T12:30:00Z"),
        SimpleNamespace(timestamp=datetime(2026, 12, 2, 13, 0, tzinfo=UTC)),
    ]
    assert recent_datapoints(points, cutoff) == points[1:]


def test_a_full_inbox_makes_the_publisher_wait_then_fail_and_loses_nothing(mail_queue, tmp_path):
    # GIVEN an inbox with room for 3 notifications and a mailbox that is not delivering
    sns, _, topic = mail_queue
    inbox = Inbox(capacity=3)
    SnsEmail.deliver_to(topic, lambda notification: inbox.put(notification, timeout=0.05))
    for n in range(3):
        sns.publish(TopicArn=topic, Subject=f"alert {n}", Message=f"body {n}")
    # WHEN a fourth is published
    # THEN the publish fails (in moto's decorator mode the error reaches the caller as raised; the local server
    # answers 500, which botocore retries), and the inbox still holds the first three
    with pytest.raises(InboxFullError):
        sns.publish(TopicArn=topic, Subject="alert 3", Message="body 3")
    assert len(inbox) == 3
    # AND once the mailbox has written them, there is room again, and the retried publish is delivered
    box = Mailbox(inbox=inbox, path=tmp_path / "m.mbox")
    assert box.deliver_pending() == 3
    sns.publish(TopicArn=topic, Subject="alert 3", Message="body 3")
    assert box.deliver_pending() == 1
    box.close()
    assert [m["Subject"] for m in read_mailbox(tmp_path / "m.mbox")] == [f"alert {n}" for n in range(4)]


def test_an_inbox_put_waits_for_room_made_by_another_thread(tmp_path):
    from datetime import UTC, datetime

    from local.mailbox import Notification

    inbox = Inbox(capacity=1)
    first = Notification("arn:t", "a@example.com", "s", "m1", "id-1", datetime.now(UTC))
    second = Notification("arn:t", "a@example.com", "s", "m2", "id-2", datetime.now(UTC))
    inbox.put(first)
    with pytest.raises(InboxFullError):
        inbox.put(second, timeout=0.01)
    # a writer makes room while the publisher waits
    remover = threading.Timer(0.05, inbox.remove, args=(1,))
    remover.start()
    inbox.put(second, timeout=10)
    remover.join()
    assert inbox.peek(5) == [second]


def test_local_sns_topics_keep_only_their_recent_notifications(monkeypatch):
    # GIVEN moto's SNS with the local-mode patch
    import local.moto_server as moto_server

    moto_server.patch_moto_sns_topic_history()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        from moto.sns.models import sns_backends

        sns = boto3.client("sns")
        topic = sns.create_topic(Name="history")["TopicArn"]
        # WHEN more notifications than it keeps are published
        for n in range(moto_server.KEEP_SENT_NOTIFICATIONS + 5):
            sns.publish(TopicArn=topic, Message=f"m{n}")
        # THEN the topic holds the newest ones only
        kept = sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications
        assert len(kept) == 1000 and kept[0][1] == "m5" and kept[-1][1] == "m1004"
