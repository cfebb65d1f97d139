"""The recheck applies the mutant the run recorded, even after the module changed, or says it is gone."""

from __future__ import annotations

from tests.mutation.mutate import _mutated_text

RECORDED = """--- mutation diff ---
--- a/m.py
+++ b/m.py
@@ -2,3 +2,3 @@
 a = 1
-b = x == y
+b = x != y
 c = 3
"""


def test_the_mutant_cosmic_ray_applied_is_kept_when_it_is_the_recorded_one():
    original = "a = 1\nb = x == y\nc = 3\n"
    assert _mutated_text(original, "a = 1\nb = x != y\nc = 3\n", RECORDED) == "a = 1\nb = x != y\nc = 3\n"


def test_a_shifted_occurrence_is_replaced_by_the_recorded_change():
    # A fix added an `==` above: occurrence numbers moved, so cosmic-ray mutated the wrong comparison.
    original = "z = p == q\na = 1\nb = x == y\nc = 3\n"
    wrong = "z = p != q\na = 1\nb = x == y\nc = 3\n"
    assert _mutated_text(original, wrong, RECORDED) == "z = p == q\na = 1\nb = x != y\nc = 3\n"


def test_a_mutant_whose_code_was_changed_is_gone():
    original = "a = 1\nb = not (x - y)\nc = 3\n"
    assert _mutated_text(original, original, RECORDED) is None
