"""local.policies: the alerting template is synthesised once per source version and read from the cache after."""

from __future__ import annotations

from local import policies


def test_the_template_is_synthesised_once_then_read_from_the_cache(tmp_path, monkeypatch):
    calls = []

    def synthesise():
        calls.append(1)
        return {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}

    monkeypatch.setattr(policies, "_synthesise_alerting", synthesise)
    first = policies.alerting_template(tmp_path)
    assert policies.alerting_template(tmp_path) == first == {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    assert len(calls) == 1
    # A damaged cache file is synthesised again, not trusted.
    (cached,) = tmp_path.glob("alerting-*.json")
    cached.write_text("{not json")
    assert policies.alerting_template(tmp_path) == first
    assert len(calls) == 2


def test_a_change_to_a_stack_source_changes_the_cache_key(tmp_path, monkeypatch):
    source = tmp_path / "notifications.py"
    monkeypatch.setattr(policies, "ROOT", tmp_path)
    monkeypatch.setattr(policies, "_SOURCES", ("notifications.py",))
    source.write_text("topic.add_to_resource_policy(allow)\n")
    before = policies._fingerprint()
    assert policies._fingerprint() == before
    source.write_text("# no allow any more\n")
    assert policies._fingerprint() != before
