"""`make mutate`: mutation testing of the core modules with cosmic-ray, each against the tests that cover it.

    python -m tests.mutation.mutate                      # every target below, one after the other
    python -m tests.mutation.mutate writer poller        # some targets (names or module paths)
    python -m tests.mutation.mutate --list               # the targets and their test subsets

Cosmic-ray changes one thing in a module's source (an operator, a number, a comparison, a condition...), runs the
module's test subset, and records whether some test failed ("killed") or all still passed ("survived"). A survivor
is a change no test notices: either a gap in the tests or an equivalent mutant (one that cannot change behaviour);
docs/testing.md lists the survivors of the last run and says which.

Mutations are applied to a scratch copy of the working tree (run/mutation/src-<targets>), never to the files you
are editing.
Results: run/mutation/<target>.sqlite (cosmic-ray's session: `cr-report`, `cr-html`), and
run/mutation/<target>.survivors.txt with each survivor's diff. It runs one mutant at a time (the machine is shared);
expect minutes per target, see docs/testing.md for the measured durations. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "run" / "mutation"

# Operators left out: the bitwise and exotic arithmetic replacements (`a + b` -> `a >> b`, `a ** b`, `a % b`...)
# are each killed by any test touching the line, and there are eleven of them per operator; they multiply the run
# time without telling anything the Add/Sub/Mul/Div swaps do not. Everything else cosmic-ray has is kept.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|Mod|FloorDiv)$",
]


@dataclass(frozen=True)
class Target:
    """One module (or package) and the tests that cover it: fast, deterministic, no servers where possible."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    timeout: float = 120.0


TARGETS = [
    Target("alarms", ("streamlake/alarms.py",), ("tests/local/test_alarm_specs.py",)),
    Target(
        "writer",
        ("producers/kinesis_writer.py",),
        ("tests/producers/test_kinesis_writer_edges.py", "tests/producers/test_batching.py"),
    ),
    Target("poller", ("local/poller.py",), ("tests/local/test_poller_semantics.py",), timeout=60.0),
    Target("processor-settings", ("lambdas/processor/settings.py",), ("tests/lambdas/test_processor_settings.py",)),
    Target(
        "processor",
        (
            "lambdas/processor/batch.py",
            "lambdas/processor/rules.py",
            "lambdas/processor/handler.py",
            "lambdas/processor/adapters.py",
        ),
        (
            "tests/lambdas/test_processor_properties.py",
            "tests/lambdas/test_processor_handler.py",
            "tests/lambdas/test_processor_faults.py",
        ),
        timeout=300.0,
    ),
    Target(
        "bridge",
        ("lambdas/bridge",),
        (
            "tests/bridge/test_mapping.py",
            "tests/cdc/test_debezium.py",
            "tests/bridge/test_wire.py",
            "tests/bridge/test_poison.py",
            "tests/bridge/test_handler.py",
        ),
        timeout=300.0,
    ),
    Target(
        "lifecycle",
        ("lambdas/processor/lifecycle.py",),
        (
            # The rules alone: the word-for-word messages first (fast), then the independent model's property; the
            # handler-level tests of the same file need moto and take ten times as long.
            "tests/lambdas/test_lifecycle_messages.py",
            "tests/lambdas/test_alert_lifecycle.py::test_a_burst_reminder_reports_the_busiest_window_since_the_last_message",
            "tests/lambdas/test_alert_lifecycle.py::test_a_state_written_by_another_version_with_extra_fields_is_read",
            "tests/lambdas/test_alert_lifecycle.py::test_lifecycle_apply_agrees_with_the_model_across_batches_and_lost_writes",
        ),
    ),
    Target(
        "firehose",
        ("local/firehose.py",),
        ("tests/local/test_firehose_pinned.py", "tests/local/test_firehose.py"),
        timeout=300.0,
    ),
    Target(
        "schemas",
        ("lambdas/schemas.py",),
        (
            "tests/lambdas/test_schemas_pinned.py",
            "tests/lambdas/test_poison.py",
            "tests/lambdas/test_schemas.py",
            "tests/lambdas/test_transform.py",
        ),
    ),
    Target(
        "athena-local",
        ("athena_queries/local.py",),
        (
            "tests/athena/test_unsupported.py",
            "tests/athena/test_trino_semantics.py",
            "tests/athena/test_time_zone.py",
            "tests/athena/test_local_results.py",
        ),
        timeout=600.0,
    ),
    Target(
        "stacks",
        ("stacks",),
        (
            "tests/infra/test_deployed_spec.py",
            "tests/infra/test_ingestion_stack.py",
            "tests/infra/test_data_lake_stack.py",
            "tests/infra/test_alerting_and_monitoring_stacks.py",
            "tests/infra/test_kafka_bridge_stack.py",
        ),
        timeout=900.0,
    ),
]


def _copy_tree(destination: Path) -> None:
    """The working tree's tracked and untracked-but-not-ignored files, as they are now."""
    if destination.exists():
        shutil.rmtree(destination)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _test_command(target: Target) -> str:
    # -x: the first failing test kills the mutant; -p no:cacheprovider: the copy stays as it was.
    # --hypothesis-seed: the same examples for every mutant, so a kill does not depend on the draw.
    options = "-x -q -p no:cacheprovider --no-header -o addopts= --hypothesis-seed=0"
    return f"{sys.executable} -m pytest {options} {' '.join(target.tests)}"


def _config(target: Target) -> str:
    command = _test_command(target)
    modules = ", ".join(json.dumps(m) for m in target.modules)
    return (
        "[cosmic-ray]\n"
        f"module-path = [{modules}]\n"
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        '\n[cosmic-ray.distributor]\nname = "local"\n'
        "\n[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{', '.join(json.dumps(e) for e in EXCLUDED_OPERATORS)}]\n"
    )


def _annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every type annotation in a module that never evaluates them.

    With `from __future__ import annotations` an annotation is a string nobody evaluates at run time: changing
    `str | None` to `str + None` there cannot change behaviour, so such mutants are equivalent by construction.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    if not lazy:
        return []
    spans = []
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            annotations.append(node.returns)
        for a in annotations:
            spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def skip_annotation_mutants(session: Path, src: Path) -> int:
    """Mark pending mutants inside lazily evaluated annotations as skipped (equivalent); returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans: dict[str, list] = {}
    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            mutation = item.mutations[0]
            module = str(mutation.module_path)
            if module not in spans:
                spans[module] = _annotation_spans(src / module)
            position = tuple(mutation.start_pos)
            if any(start <= position < end for start, end in spans[module]):
                db.set_result(
                    item.job_id,
                    WorkResult(output="in a type annotation (never evaluated)", worker_outcome=WorkerOutcome.SKIPPED),
                )
                skipped += 1
    return skipped


def _cosmic(*args: str, cwd: Path) -> None:
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, check=True)


def _summary(session: Path, cwd: Path) -> dict:
    """Counts per outcome and each survivor's diff, from cosmic-ray's session dump."""
    bin_dir = Path(sys.executable).parent
    dump = subprocess.run(
        [str(bin_dir / "cosmic-ray"), "dump", str(session)], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "pending": 0}
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            counts["pending"] += 1
            continue
        if result["worker_outcome"] == "skipped":
            counts["skipped"] += 1  # an excluded operator
        elif result["worker_outcome"] != "normal" or result["test_outcome"] == "incompetent":
            counts["incompetent"] += 1  # the mutant could not be tested (worker exception, abnormal exit)
        elif result["test_outcome"] == "survived":
            counts["survived"] += 1
            mutation = item["mutations"][0]
            survivors.append(
                f"{mutation['module_path']}:{mutation['start_pos'][0]} {mutation['operator_name']} "
                f"#{mutation['occurrence']}\n{result['diff']}"
            )
        else:
            counts["killed"] += 1
    tested = counts["killed"] + counts["survived"]
    counts["score"] = round(100 * counts["killed"] / tested, 1) if tested else None
    return {"counts": counts, "survivors": survivors}


def _changed_lines(diff: str) -> tuple[list[str], list[str]]:
    """The removed and the added lines of a unified diff."""
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def _mutated_text(original: str, mutated: str, recorded_diff: str) -> str | None:
    """The module with the recorded mutant applied, or None when its code is no longer there.

    `cosmic-ray apply` finds a mutant by operator and occurrence number; when the module changed after the run
    (a fix), the numbers shift and it would apply a different mutant. So the change it made is compared with the
    run's diff; if they differ, the run's removed lines are replaced by its added lines where they occur once."""
    diff = "\n".join(difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm=""))
    removed, added = _changed_lines(recorded_diff)
    if _changed_lines(diff) == (removed, added):
        return mutated
    block = "\n".join(removed) + "\n"
    if not removed or original.count(block) != 1:
        return None
    return original.replace(block, "\n".join(added) + "\n")


def recheck(target: Target, src: Path, only_last_survivors: bool = False) -> dict:
    """Run each survivor of the target's last session against the tests as they are now (after adding tests for
    the survivors, without a full run): applies the mutant in the copy, runs the subset, restores the file.
    A survivor whose code was changed since the run (fixed) is listed as gone, not tested. With
    `only_last_survivors`, only the mutants the previous recheck left alive are run again."""
    session = WORK / f"{target.name}.sqlite"
    last = WORK / f"{target.name}.recheck-survivors.txt"
    wanted = None
    if only_last_survivors:
        wanted = {line for line in last.read_text().splitlines() if re.fullmatch(r"\S+\.py:\d+ \S+ #\d+", line)}
    bin_dir = Path(sys.executable).parent
    dump = subprocess.run(
        [str(bin_dir / "cosmic-ray"), "dump", str(session)], cwd=src, check=True, capture_output=True, text=True
    ).stdout
    command = _test_command(target).split()
    spans: dict[str, list] = {}
    still, killed, gone = [], [], []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if not result or result["worker_outcome"] != "normal" or result["test_outcome"] != "survived":
            continue
        mutation = item["mutations"][0]
        module = mutation["module_path"]
        spans.setdefault(module, _annotation_spans(src / module))
        if any(start <= tuple(mutation["start_pos"]) < end for start, end in spans[module]):
            continue
        original = (src / module).read_text(encoding="utf-8")
        name = f"{module}:{mutation['start_pos'][0]} {mutation['operator_name']} #{mutation['occurrence']}"
        if wanted is not None and name not in wanted:
            continue
        try:
            # Not checked: after a change to the module the occurrence may not exist any more (then nothing changes).
            subprocess.run(
                [str(bin_dir / "cosmic-ray"), "apply", module, mutation["operator_name"], str(mutation["occurrence"])],
                cwd=src,
                check=False,
                capture_output=True,
            )
            mutated = _mutated_text(original, (src / module).read_text(encoding="utf-8"), result["diff"])
            if mutated is None:
                gone.append(f"{name}\n{result['diff']}")
                print("gone     " + name, flush=True)
                continue
            (src / module).write_text(mutated, encoding="utf-8")
            try:
                outcome = subprocess.run(command, cwd=src, capture_output=True, timeout=target.timeout).returncode
            except subprocess.TimeoutExpired:
                outcome = -1
        finally:
            (src / module).write_text(original, encoding="utf-8")
        (killed if outcome != 0 else still).append(f"{name}\n{result['diff']}")
        print(("killed   " if outcome != 0 else "survives ") + name, flush=True)
    last.write_text("\n".join(still))
    (WORK / f"{target.name}.recheck-gone.txt").write_text("\n".join(gone))
    return {
        "rechecked": len(killed) + len(still),
        "killed_now": len(killed),
        "still_surviving": len(still),
        "gone": len(gone),
    }


def run(target: Target, src: Path, resume: bool = False) -> dict:
    config = WORK / f"{target.name}.toml"
    session = WORK / f"{target.name}.sqlite"
    started = time.monotonic()
    if not (resume and session.exists()):
        config.write_text(_config(target))
        session.unlink(missing_ok=True)
        _cosmic("cosmic-ray", "init", str(config), str(session), cwd=src)
        _cosmic("cr-filter-operators", str(session), str(config), cwd=src)
        _cosmic("cosmic-ray", "baseline", str(config), cwd=src)
    print(f"{skip_annotation_mutants(session, src)} mutants in type annotations skipped as equivalent", flush=True)
    _cosmic("cosmic-ray", "exec", str(config), str(session), cwd=src)
    summary = _summary(session, src)
    summary["minutes"] = round((time.monotonic() - started) / 60, 1)
    (WORK / f"{target.name}.survivors.txt").write_text("\n".join(summary["survivors"]))
    (WORK / f"{target.name}.json").write_text(json.dumps({"target": target.name, **summary}, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="target names or module paths (default: all)")
    parser.add_argument("--list", action="store_true", help="print the targets and their tests, then stop")
    parser.add_argument(
        "--resume", action="store_true", help="continue the targets' last sessions in their existing copy"
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="with --recheck: only the survivors of the previous recheck",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="run the last sessions' survivors against the current tests (in a fresh copy), not a full run",
    )
    args = parser.parse_args(argv)
    if args.list:
        for t in TARGETS:
            print(f"{t.name:13} {' '.join(t.modules)}\n{'':13} tests: {' '.join(t.tests)}")
        return 0
    wanted = [t for t in TARGETS if not args.targets or t.name in args.targets or set(t.modules) & set(args.targets)]
    unknown = set(args.targets) - {t.name for t in wanted} - {m for t in wanted for m in t.modules}
    if unknown:
        parser.error(f"unknown target(s) {sorted(unknown)}; --list shows them")
    WORK.mkdir(parents=True, exist_ok=True)
    # One copy per set of targets, so two runs (say, one per core) do not mutate each other's files.
    suffix = ("-recheck" if args.recheck else "") + ("-again" if args.again else "")
    src = WORK / ("src-" + "-".join(t.name for t in wanted) + suffix)
    if not (args.resume and src.exists()):
        _copy_tree(src)
    print(f"mutating a copy of the working tree in {src}")
    if args.recheck:
        for target in wanted:
            print(f"== {target.name}: {recheck(target, src, args.again)}", flush=True)
        return 0
    rows = []
    for target in wanted:
        print(f"== {target.name}: {' '.join(target.modules)}", flush=True)
        summary = run(target, src, args.resume)
        c = summary["counts"]
        rows.append(
            f"| {target.name} | {c['killed']} | {c['survived']} | {c['incompetent']} | {c['score']} % "
            f"| {summary['minutes']} min |"
        )
        print(rows[-1], flush=True)
    print("| target | killed | survived | incompetent | killed / (killed + survived) | time |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
