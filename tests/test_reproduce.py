"""The reproduction study: aggregation and verdict rule on hand-computed numbers, and a tiny real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spikeforge.reproduce import stats
from spikeforge.reproduce.claims import CLAIMS, lts_convergence
from spikeforge.reproduce.report import markdown_table, write_claim
from spikeforge.reproduce.runner import ArmResult, arm_dir, run_arm
from spikeforge.reproduce.stats import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE
from spikeforge.reproduce.tasks import BUDGETS, Budget, TaskBudget, task_config


# ----------------------------------------------------------------------------- mean / std
def test_summarize_mean_and_sample_std():
    s = stats.summarize([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)  # var = (1 + 0 + 1) / (3 - 1) = 1
    s = stats.summarize([0.7, 0.9, None, math.nan])
    assert s.n == 2 and s.mean == pytest.approx(0.8) and s.std == pytest.approx(math.sqrt(0.02))
    assert math.isnan(stats.summarize([5.0]).std)
    assert stats.summarize([]).n == 0
    assert stats.summarize([0.5, 0.7]).fmt(100) == "60.00 ± 14.14"


# ----------------------------------------------------------------------------- epochs to target
def test_epochs_to_target():
    assert stats.epochs_to_target([0.5, 0.8, 0.9, 0.95], 0.9) == 3  # first epoch with value >= target
    assert stats.epochs_to_target([0.5, math.nan, 0.91], 0.9) == 3
    assert stats.epochs_to_target([0.5, 0.6], 0.9, censor=3) == 3  # never reached: censored
    assert stats.epochs_to_target([0.5, 0.6], 0.9) is None
    assert stats.last_finite([0.1, 0.2, math.nan]) == 0.2


# ----------------------------------------------------------------------------- verdict rule
def test_superiority_holds_when_interval_above_zero():
    # means .82 vs .72, both std .02: se = sqrt(2 * .0004 / 3) = .016330, d - 2 se = .06734 > 0
    c = stats.compare([0.80, 0.82, 0.84], [0.70, 0.72, 0.74])
    assert c.diff == pytest.approx(0.10)
    assert c.se == pytest.approx(math.sqrt(2 * 0.0004 / 3))
    assert c.lo == pytest.approx(0.10 - 2 * 0.0163299, abs=1e-6)
    assert c.verdict == HOLDS


def test_superiority_fails_when_interval_below_margin():
    # d = -.00333, se = sqrt(2 * (1/3e4) / 3) = .004714: d + 2 se = .00609 < margin .01
    c = stats.compare([0.80, 0.80, 0.81], [0.80, 0.81, 0.81], margin=0.01)
    assert c.hi == pytest.approx(-0.01 / 3 + 2 * math.sqrt(2 * (0.01**2 / 3) / 3), abs=1e-9)
    assert c.verdict == DOES_NOT_HOLD


def test_superiority_inconclusive_when_noisy():
    # d = 0, se = sqrt(.04/3 + .01/3) = .1291: the interval spans both 0 and the margin
    assert stats.compare([0.5, 0.9, 0.7], [0.6, 0.7, 0.8]).verdict == INCONCLUSIVE


def test_lower_is_better_flips_the_sign():
    # epochs: treatment mean 2.333, baseline 5.333, both std .57735: d = +3, se = .4714, lo = 2.057
    c = stats.compare([2, 2, 3], [5, 6, 5], higher_is_better=False, margin=1.0)
    assert c.diff == pytest.approx(3.0)
    assert c.se == pytest.approx(math.sqrt(2 * (1 / 3) / 3))
    assert c.verdict == HOLDS
    assert stats.compare([5, 6, 5], [2, 2, 3], higher_is_better=False, margin=1.0).verdict == DOES_NOT_HOLD


def test_paired_uses_the_per_seed_differences():
    # seeds differ a lot, the treatment is 1 pp better on every seed but one (+2):
    # differences 1, 1, 2 -> d = 4/3, sd = .57735, se = .57735 / sqrt(3) = 1/3, lo = 4/3 - 2/3 = 2/3 > 0
    treat, base = [71.0, 81.0, 92.0], [70.0, 80.0, 90.0]
    c = stats.compare(treat, base, paired=True)
    assert c.diff == pytest.approx(4 / 3) and c.se == pytest.approx(1 / 3) and c.lo == pytest.approx(2 / 3)
    assert c.verdict == HOLDS
    assert stats.compare(treat, base).verdict == INCONCLUSIVE  # unpaired: the seed spread swamps it
    # a missing value drops its pair
    c = stats.compare([1.0, math.nan, 3.0, 4.0], [0.0, 5.0, 2.0, 2.0], paired=True)
    assert c.treatment.n == 3 and c.diff == pytest.approx(4 / 3)
    with pytest.raises(ValueError):
        stats.compare([1.0, 2.0], [1.0], paired=True)


def test_non_inferiority():
    # d = 0, se = .005 / sqrt(3) = .002887: d - 2 se = -.00577 > -.01
    assert stats.compare([0.795, 0.80, 0.805], [0.8, 0.8, 0.8], kind="non_inferiority").verdict == HOLDS
    # 10 pp worse and significantly so
    assert stats.compare([0.70, 0.71, 0.72], [0.80, 0.81, 0.82], kind="non_inferiority").verdict == DOES_NOT_HOLD
    # 3 pp worse on average but too noisy to say
    assert stats.compare([0.6, 0.9, 0.72], [0.8, 0.75, 0.78], kind="non_inferiority").verdict == INCONCLUSIVE


def test_chance_level_and_too_few_seeds_are_inconclusive():
    at_chance = stats.compare([0.1, 0.1, 0.1], [0.1, 0.1, 0.1], chance=0.1)
    assert at_chance.verdict == INCONCLUSIVE
    assert stats.compare([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]).verdict == DOES_NOT_HOLD  # without the guard
    assert stats.compare([0.9], [0.1, 0.2]).verdict == INCONCLUSIVE
    with pytest.raises(ValueError):
        stats.compare([1, 2], [1, 2], kind="equal")  # type: ignore[arg-type]


def test_combine():
    assert stats.combine([HOLDS, HOLDS, INCONCLUSIVE]) == HOLDS
    assert stats.combine([HOLDS, INCONCLUSIVE]) == HOLDS  # at least half
    assert stats.combine([HOLDS, INCONCLUSIVE, INCONCLUSIVE]) == INCONCLUSIVE
    assert stats.combine([HOLDS, HOLDS, DOES_NOT_HOLD]) == INCONCLUSIVE  # mixed
    assert stats.combine([DOES_NOT_HOLD, DOES_NOT_HOLD, INCONCLUSIVE]) == DOES_NOT_HOLD
    assert stats.combine([]) == INCONCLUSIVE
    # a conjunction ("A and B") needs every part
    assert stats.conjunction([HOLDS, HOLDS]) == HOLDS
    assert stats.conjunction([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert stats.conjunction([HOLDS, DOES_NOT_HOLD]) == DOES_NOT_HOLD
    assert stats.conjunction([]) == INCONCLUSIVE
    assert stats.count_verdicts([HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, HOLDS]) == (
        "2 hold, 1 do not hold, 1 inconclusive"
    )


# ----------------------------------------------------------------------------- claim 2 on synthetic curves
def _fake(name: str, curve: list[float]) -> ArmResult:
    history = [{"epoch": i + 1, "test/acc": v} for i, v in enumerate(curve)]
    return ArmResult(name, Path("/nonexistent"), curve[-1], max(curve), [], history, 1.0)


def test_claim2_aggregation_on_synthetic_curves(tmp_path):
    budget = Budget(
        "synthetic",
        seeds=(0, 1, 2),
        tasks={"digits": TaskBudget(4, 5), "mnist1d": TaskBudget(4, 5)},
        threshold_inits=(),
    )
    curves = {  # per loss, one curve per seed; the same for both tasks
        "sdt": [[0.5, 0.7, 0.80, 0.90], [0.5, 0.7, 0.80, 0.90], [0.5, 0.7, 0.87, 0.90]],
        "tet": [[0.4, 0.6, 0.80, 0.88], [0.4, 0.6, 0.80, 0.89], [0.4, 0.6, 0.80, 0.90]],
        "lts": [[0.87, 0.88, 0.9, 0.90], [0.80, 0.88, 0.9, 0.92], [0.70, 0.88, 0.9, 0.91]],
    }
    results = {}
    for arm in lts_convergence.arms(budget):
        loss = arm.config["loss"]["name"]
        seed = arm.config["seed"]
        results[arm.name] = _fake(arm.name, curves[loss][seed])
    report = lts_convergence.analyze(results, budget, tmp_path)
    # best seed-mean final accuracy: LTS (.90 + .92 + .91) / 3 = .91 -> target .8645
    rows = {(r["task"], r["loss"]): r for r in report.rows}
    assert float(rows[("digits", "LTS")]["target"]) == pytest.approx(86.45, abs=0.006)
    # epochs to target per seed: SDT 4, 4, 3; TET 4, 4, 4; LTS 1, 2, 2
    assert rows[("digits", "SDT")]["per_seed"] == "4 4 3"
    assert rows[("digits", "TET")]["per_seed"] == "4 4 4"
    assert rows[("digits", "LTS")]["per_seed"] == "1 2 2"
    assert rows[("digits", "LTS")]["epochs_to_target"] == "1.67 ± 0.58"
    assert rows[("digits", "SDT")]["final"] == "90.00 ± 0.00"
    # LTS vs SDT: d = 3.667 - 1.667 = 2, se = sqrt(.3333/3 + .3333/3) = .4714 -> holds; same vs TET
    speed = [c for c in report.comparisons if c["metric"] == "epochs to 95% target"]
    assert [c["verdict"] for c in speed] == [HOLDS] * 4
    assert speed[0]["diff"] == "+2.00"
    assert report.verdict == HOLDS
    # final accuracy LTS .91 vs SDT .90 (std 0): non-inferior
    assert report.sub_verdicts["final accuracy not worse"] == HOLDS
    # written tables
    files = write_claim(report, tmp_path)
    assert files["table_csv"].read_text().splitlines()[0].startswith("task,loss,final")
    data = json.loads(files["table_json"].read_text())
    assert data["verdict"] == HOLDS and len(data["rows"]) == 6
    assert (tmp_path / "lts_convergence.png").stat().st_size < 200_000


def test_markdown_table_escapes_pipes():
    md = markdown_table([{"a": "x|y", "b": 0.5}], [("a", "A"), ("b", "B")])
    assert md.splitlines() == ["| A | B |", "|---|---|", "| x\\|y | 0.5 |"]


# ----------------------------------------------------------------------------- configs and arms
def test_arms_share_runs_and_budgets_are_complete():
    quick = BUDGETS["quick"]
    for budget in BUDGETS.values():
        assert len(budget.seeds) >= 3
        for claim in CLAIMS.values():
            arms = claim.arms(budget)
            assert len({a.name for a in arms}) == len(arms)
    # claim 2's SDT arms are claim 1's T=4 IMP=0 arms: trained once
    names1 = {a.name for a in CLAIMS[1].arms(quick)}
    assert {a.name for a in CLAIMS[2].arms(quick) if "-sdt-" in a.name} <= names1
    assert {a.name for a in CLAIMS[6].arms(quick)} <= names1
    assert quick.with_seeds(4).seeds == (0, 1, 2, 3)
    raw = task_config("digits", quick, T=2, **{"neuron.imp": "learn"})
    assert (
        raw["T"] == 2
        and raw["neuron"]["imp"] == "learn"
        and raw["run"]["max_steps_per_epoch"] == quick.tasks["digits"].steps
    )
    assert "imp" not in task_config("digits", quick)["neuron"]  # the base config is not modified


def test_count_mappings_matches_the_figure_3a_count():
    import torch

    from spikeforge.reproduce.claims.patterns import count_mappings

    res = count_mappings(torch.zeros(5, dtype=torch.float64))  # duplicates count once
    assert res["num_imps"] == 1 and res["num_mappings"] == 54  # IMP = 0, w in linspace(0, 1, 17): docs/methods.md A.7
    assert res["reachable_outputs"] == 16


# ----------------------------------------------------------------------------- a tiny real study
def test_smoke_claim6_runs_resumes_and_writes(tmp_path):
    from spikeforge.reproduce.study import run_study

    budget = Budget("smoke", seeds=(0, 1), tasks={"digits": TaskBudget(1, 1)}, threshold_inits=())
    arm = CLAIMS[6].arms(budget)[0]
    interrupted = arm_dir(tmp_path / "runs", arm)
    interrupted.mkdir(parents=True)
    (interrupted / "metrics.jsonl").write_text('{"epoch": 1, "test/acc": 0.99}\n')  # no result.json
    reports = run_study(tmp_path, budget=budget, claims=[6], jobs=1, log=None)
    (report,) = reports
    assert report.number == 6
    rows = {r["setting"]: r for r in report.rows}
    assert rows["IMP = 0 (Fig 3a)"]["mappings"] == 54  # docs/methods.md A.7
    assert rows["IMP swept over [-1, 1] (Fig 3c)"]["mappings"] == 108
    assert 0.0 <= json.loads((interrupted / "result.json").read_text())["test_acc"] <= 1.0
    history = [json.loads(line) for line in (interrupted / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 1 and history[0]["test/acc"] != 0.99  # retrained from scratch
    summary = (tmp_path / "summary.md").read_text()
    assert "Claim 6" in summary and report.verdict in summary
    assert json.loads((tmp_path / "study.json").read_text())["runs_trained"] == 2
    # resumable: the finished run is read back, not trained again
    again = run_arm(arm, tmp_path / "runs")
    assert again.reused and again.test_acc == pytest.approx(
        json.loads((interrupted / "result.json").read_text())["test_acc"]
    )
