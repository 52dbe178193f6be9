"""The reproduction study: aggregation and verdict rule on hand-computed numbers, and a tiny real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spikeforge.analysis.sweep import ArmResult, arm_dir, run_arm
from spikeforge.reproduce import stats
from spikeforge.reproduce.claims import CLAIMS, lts_convergence
from spikeforge.reproduce.report import markdown_table, write_claim
from spikeforge.reproduce.stats import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, TIE, UNTESTABLE
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


def test_superiority_tie_when_interval_within_the_margin():
    # d = -.00333, se = sqrt(2 * (1/3e4) / 3) = .004714: [-.01276, .00609]; lo < -margin, so not a tie
    c = stats.compare([0.80, 0.80, 0.81], [0.80, 0.81, 0.81], margin=0.01)
    assert c.hi == pytest.approx(-0.01 / 3 + 2 * math.sqrt(2 * (0.01**2 / 3) / 3), abs=1e-9)
    assert c.verdict == INCONCLUSIVE
    # the same with a 2 pp margin: the interval lies inside (-.02, .02), a tie, not a failure (issue 10)
    assert stats.compare([0.80, 0.80, 0.81], [0.80, 0.81, 0.81], margin=0.02).verdict == TIE


def test_superiority_fails_when_significantly_worse():
    # d = -.10, se = .01633: d + 2 se = -.0673 < 0
    assert stats.compare([0.70, 0.72, 0.74], [0.80, 0.82, 0.84]).verdict == DOES_NOT_HOLD


def test_no_headroom_is_untestable():
    # baseline at 99.6%: within the 1 pp margin of the 100% ceiling, no room for a 1 pp gain
    c = stats.compare([0.997, 0.998, 0.996], [0.996, 0.995, 0.997], margin=0.01, ceiling=1.0)
    assert c.verdict == UNTESTABLE
    assert stats.compare([0.998, 0.997, 0.999], [0.996, 0.995, 0.997], margin=0.001, ceiling=1.0).verdict == HOLDS
    # lower is better (dead fraction, ceiling 0): a baseline with 1% dead cannot lose 2 pp
    low = stats.compare([0.0, 0.0, 0.0], [0.01, 0.01, 0.01], higher_is_better=False, margin=0.02, ceiling=0.0)
    assert low.verdict == UNTESTABLE


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
    assert at_chance.verdict == UNTESTABLE  # nothing learned: the arms cannot show the effect
    assert stats.compare([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]).verdict == TIE  # without the guard
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
    # untestable comparisons are left out; ties are not failures
    assert stats.combine([HOLDS, UNTESTABLE, UNTESTABLE]) == HOLDS
    assert stats.combine([UNTESTABLE, UNTESTABLE]) == UNTESTABLE
    assert stats.combine([TIE, TIE, INCONCLUSIVE]) == TIE
    assert stats.combine([TIE, DOES_NOT_HOLD, DOES_NOT_HOLD]) == DOES_NOT_HOLD
    assert stats.combine([TIE, HOLDS]) == HOLDS
    assert stats.conjunction([HOLDS, UNTESTABLE]) == UNTESTABLE
    # a conjunction ("A and B") needs every part
    assert stats.conjunction([HOLDS, HOLDS]) == HOLDS
    assert stats.conjunction([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert stats.conjunction([HOLDS, DOES_NOT_HOLD]) == DOES_NOT_HOLD
    assert stats.conjunction([]) == INCONCLUSIVE
    assert stats.count_verdicts([HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, HOLDS]) == (
        "2 hold, 1 do not hold, 1 inconclusive"
    )


# ----------------------------------------------------------------------------- claim 2 on synthetic curves
def _fake(name: str, losses: list[float], acc: float = 0.5, history: list | None = None) -> ArmResult:
    history = history or [{"epoch": i + 1, "train/loss": v} for i, v in enumerate(losses)]
    history[-1]["test/acc"] = acc
    return ArmResult(name, Path("/nonexistent"), acc, acc, [], history, 1.0)


def _fake_iter(name: str, losses: list[float], accs: list[float]) -> ArmResult:
    history = [{"epoch": i + 1, "train/loss": v, "train/acc": a} for i, (v, a) in enumerate(zip(losses, accs))]
    history[-1]["test/acc"] = accs[-1]
    return ArmResult(name, Path("/nonexistent"), accs[-1], accs[-1], [], history, 1.0)


# per loss, one (loss curve, train-acc curve) per seed: the official setup's memorise runs at every T
_MEMO = {
    "sdt": [
        ([2.0, 1.5, 1.2, 0.9, 0.8, 0.7], [0.1, 0.5, 0.8, 0.85, 0.9, 0.95]),
        ([2.0, 1.5, 1.1, 1.0, 0.9, 0.8], [0.1, 0.5, 0.8, 0.9, 0.95, 0.95]),
        ([2.0, 1.4, 1.2, 0.95, 0.8, 0.7], [0.1, 0.5, 0.7, 0.85, 0.9, 0.95]),
    ],
    "tet": [
        ([2.0, 1.8, 1.6, 1.4, 1.2, 1.1], [0.1, 0.4, 0.6, 0.8, 0.85, 0.9]),
        ([2.0, 1.8, 1.6, 1.4, 1.2, 0.9], [0.1, 0.4, 0.6, 0.8, 0.85, 0.88]),
        ([2.0, 1.8, 1.6, 1.4, 1.2, 1.1], [0.1, 0.4, 0.6, 0.8, 0.9, 0.9]),
    ],
    "lts": [
        ([2.0, 0.9, 0.5, 0.4, 0.3, 0.2], [0.1, 0.6, 0.9, 0.95, 0.99, 1.0]),
        ([2.0, 1.2, 0.8, 0.4, 0.3, 0.2], [0.1, 0.5, 0.8, 0.9, 0.99, 1.0]),
        ([2.0, 0.8, 0.5, 0.4, 0.3, 0.2], [0.1, 0.6, 0.9, 0.95, 0.99, 1.0]),
    ],
}


def _claim2_results(budget, memo, real_acc):
    results = {}
    for arm in lts_convergence.arms(budget):
        loss, seed, task = arm.config["loss"]["name"], arm.config["seed"], arm.name.split("-")[0]
        assert arm.config["run"]["max_steps_per_epoch"] == 1
        if task == "memorise":
            curve, acc = memo[loss][seed]
        else:
            n = budget.tasks[task].epochs
            curve, acc = [1.0] * n, [real_acc[loss] + 0.01 * seed] * n
        results[arm.name] = _fake_iter(arm.name, curve, acc)
    return results


_CLAIM2_BUDGET = Budget(
    "synthetic",
    seeds=(0, 1, 2),
    tasks={"memorise": TaskBudget(6, 1), "digits_iter": TaskBudget(3, 1), "mnist1d_iter": TaskBudget(3, 1)},
)


def test_claim2_arms_cover_T_2_4_6_and_draw_one_memorisation_set_per_seed():
    names = [a.name for a in lts_convergence.arms(_CLAIM2_BUDGET)]
    assert len(names) == len(set(names)) == 3 * 3 * 3 + 2 * 3 * 3  # memorise at T 2/4/6, two real tasks at T 4
    memo = [a for a in lts_convergence.arms(_CLAIM2_BUDGET) if a.name.startswith("memorise")]
    assert {a.config["T"] for a in memo} == {2, 4, 6}
    assert all(a.config["data"]["options"] == {"seed": a.config["seed"]} for a in memo)


def test_claim2_two_speed_measures_and_the_conjunction_verdict(tmp_path):
    real_acc = {"sdt": 0.80, "tet": 0.70, "lts": 0.85}
    report = lts_convergence.analyze(_claim2_results(_CLAIM2_BUDGET, _MEMO, real_acc), _CLAIM2_BUDGET, tmp_path)
    rows = {(r["task"], r["loss"]): r for r in report.rows}
    # iterations to loss < 1.0 per seed: SDT 4, 5 (1.0 is not < 1.0), 4; TET never (7), 6, never (7); LTS 2, 3, 2
    assert rows[("memorise, T=4", "SDT")]["to_loss_seeds"] == "4 5 4"
    assert rows[("memorise, T=4", "TET")]["to_loss_seeds"] == ">6 6 >6"
    assert rows[("memorise, T=4", "LTS")]["to_loss_seeds"] == "2 3 2"
    # iterations to train acc >= 90%: SDT 5, 4, 5; TET 6, never (7), 5; LTS 3, 4, 3
    assert rows[("memorise, T=4", "SDT")]["to_acc_seeds"] == "5 4 5"
    assert rows[("memorise, T=4", "TET")]["to_acc_seeds"] == "6 >6 5"
    assert rows[("memorise, T=4", "LTS")]["to_acc_seeds"] == "3 4 3"
    cmps = {(c["comparison"], c["metric"]): c for c in report.comparisons}
    # LTS vs SDT on the common metric: differences 2, 0, 2 -> d = 4/3, se = 2 / (sqrt 3 * sqrt 3) = .667:
    # d - 2 se = 0 is not > 0 and the interval [0, 2.67] reaches past the 0.47 margin: inconclusive
    vs_sdt = cmps[("memorise T=4: LTS vs SDT", "iterations to train acc >= 90%")]
    assert vs_sdt["diff"] == "+1.3" and vs_sdt["se"] == "0.7" and vs_sdt["verdict"] == INCONCLUSIVE
    # LTS vs TET: differences 3, 3, 2 -> d = 2.67, se = .333: [2.0, 3.3] > 0, holds
    vs_tet = cmps[("memorise T=4: LTS vs TET", "iterations to train acc >= 90%")]
    assert vs_tet["verdict"] == HOLDS
    # the claim is "faster than SDT and TET": holds + inconclusive is inconclusive (combine() would say holds)
    assert stats.combine([HOLDS, INCONCLUSIVE]) == HOLDS
    assert report.verdict == INCONCLUSIVE
    assert report.sub_verdicts["memorise, T=4, iterations to loss < 1: faster than SDT and TET"] == HOLDS
    assert report.sub_verdicts["memorise, T=2, iterations to train acc >= 90%: faster than SDT and TET"] == (
        INCONCLUSIVE
    )
    # real tasks on the common metric: mean train acc, LTS .85 + .01 s vs SDT .80 + .01 s: d = 5 pp every seed
    digits = cmps[("digits_iter: LTS vs SDT", "mean train acc")]
    assert digits["diff"] == "+5.00" and digits["verdict"] == HOLDS
    assert report.sub_verdicts["digits_iter: higher mean training accuracy than SDT and TET"] == HOLDS
    files = write_claim(report, tmp_path)
    assert json.loads(files["table_json"].read_text())["verdict"] == INCONCLUSIVE
    assert (tmp_path / "lts_convergence.png").stat().st_size < 200_000


def test_claim2_never_reached_is_untestable(tmp_path):
    budget = Budget("s", seeds=(0, 1), tasks={k: TaskBudget(2, 1) for k in lts_convergence.TASKS})
    results = {a.name: _fake_iter(a.name, [2.0, 1.9], [0.1, 0.2]) for a in lts_convergence.arms(budget)}
    report = lts_convergence.analyze(results, budget, tmp_path)
    assert report.verdict == UNTESTABLE


def test_claim2_official_network_shapes_init_and_neuron():
    """The memorise task is the official script's Net: Linear 16-256-256-256-16 without bias, nn.Linear's
    own init, three IF layers (soft reset, threshold 1, Sigmoid(4), reset not detached), linear readout."""
    import torch
    from torch import nn

    from spikeforge.train.builders import build_model_from_config
    from spikeforge.train.config import config_from_dict

    raw = task_config("memorise", BUDGETS["quick"], seed=0)
    assert raw["neuron"] == {
        "type": "if",
        "v_threshold": 1.0,
        "v_reset": None,
        "detach_reset": False,
        "surrogate": {"name": "sigmoid", "alpha": 4.0},
    }
    assert (raw["optim"]["name"], raw["optim"]["lr"], raw["data"]["batch_size"]) == ("adam", 0.001, 1024)
    torch.manual_seed(7)
    net = build_model_from_config(config_from_dict(raw), num_classes=16)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(256, 16), (256, 256), (256, 256), (16, 256)]
    assert all(m.bias is None for m in linears)
    # PyTorch's default init, draw for draw: the same seed gives the same weights as plain nn.Linear layers
    torch.manual_seed(7)
    reference = [nn.Linear(i, o, bias=False) for i, o in [(16, 256), (256, 256), (256, 256), (256, 16)]]
    assert all(torch.equal(m.weight, r.weight) for m, r in zip(linears, reference))
    assert float(linears[1].weight.detach().abs().max()) <= 1 / 16  # U(-1/sqrt(256), 1/sqrt(256))
    spiking = [m for m in net.modules() if type(m).__name__.endswith("IFNode") or hasattr(m, "v_threshold")]
    assert len(spiking) == 3
    with pytest.raises(ValueError, match="init must be one of"):
        from spikeforge.models.mlp import SpikingMLP

        SpikingMLP([4, 2], init="xavier")


def test_memorisation_set_is_the_official_draw():
    """``torch.rand(1024, 16)`` on [0, 1) then ``randint(0, 16)``, from a generator seeded per run."""
    import torch

    from spikeforge.data.registry import build_dataset
    from spikeforge.reproduce.data import MEMORISATION

    data = build_dataset(MEMORISATION, "train", root=None, T=4, seed=3)
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(1024, 16, generator=g), torch.randint(0, 16, (1024,), generator=g)
    assert torch.equal(data.tensors[0], x) and torch.equal(data.tensors[1], y)
    assert float(x.min()) >= 0.0 and float(x.max()) < 1.0 and int(y.max()) == 15


# ----------------------------------------------------------------------------- power
def test_power_and_seeds_needed_by_hand():
    # Phi(margin sqrt(n) / sd - 2): sd 1.42, margin 1, n 8: Phi(2.8284 / 1.42 - 2) = Phi(-0.00815) = 0.4967
    assert stats.power(1.42, 1.0, 8) == pytest.approx(0.49675, abs=1e-4)
    # n = ceil(((2 + 0.84162) * 1.42 / 1)^2) = ceil(16.27) = 17; 16 seeds give Phi(4 / 1.42 - 2) = 0.793
    assert stats.seeds_needed(1.42, 1.0) == 17
    assert stats.power(1.42, 1.0, 16) == pytest.approx(0.7930, abs=1e-4)
    # claims 3/4: sd 0.9, margin 0.5: ceil((2.84162 * 1.8)^2) = ceil(26.16) = 27
    assert stats.seeds_needed(0.9, 0.5) == 27
    assert stats.seeds_needed(0.0, 1.0) == 2 and stats.power(0.0, 1.0, 3) == 1.0
    assert stats.seeds_needed(math.nan, 1.0) is None


def test_comparison_row_states_seeds_and_power():
    from spikeforge.reproduce.report import comparison_row

    # paired differences 2, 0, 2: sd = 1.1547, margin 1: power Phi(sqrt 3 / 1.1547 - 2) = Phi(-0.5) = 30.9%;
    # seeds for 80%: ceil((2.84162 * 1.1547)^2) = ceil(10.77) = 11
    cmp = stats.compare([3.0, 4.0, 3.0], [5.0, 4.0, 5.0], higher_is_better=False, margin=1.0, paired=True)
    row = comparison_row("x", "iters", cmp)
    assert row["seeds"] == "3 (31%); 11 for 80%"
    assert row["raw"]["seeds_needed"] == 11


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
    # claim 6 counts the mappings of claim 1's digits models: trained once
    names1 = {a.name for a in CLAIMS[1].arms(quick)}
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


# ----------------------------------------------------------------------------- the study's own data and models
def test_study_models_and_datasets_are_registered_without_the_study():
    """A fresh interpreter that never imports the study finds its models and datasets (as `spikeforge train` does)."""
    import subprocess
    import sys

    code = (
        "from spikeforge.models import MODELS; from spikeforge.data.registry import dataset_info; "
        "assert {'mnist1d_convnet', 'narrow_vgg_legacy'} <= set(MODELS), sorted(MODELS); "
        "[dataset_info(n) for n in ('mnist1d_static', 'random_memorisation', 'sim_event_digits_hard')]"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_memorisation_set_is_the_same_for_train_and_test():
    from spikeforge.data.registry import build_dataset
    from spikeforge.reproduce.data import MEMORISATION

    train = build_dataset(MEMORISATION, "train", root=None, T=4, n=32, dim=5)
    test = build_dataset(MEMORISATION, "test", root=None, T=4, n=32, dim=5)
    assert train.tensors[0].shape == (32, 5)
    assert all(torch_equal(a, b) for a, b in zip(train.tensors, test.tensors))
    assert int(train.tensors[1].max()) <= 15  # 16 classes, as the official script (issue 20; was 10)


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


def test_noisy_frames_are_deterministic_and_add_counts():
    import torch
    from torch.utils.data import TensorDataset

    from spikeforge.reproduce.data import NoisyFrames

    base = TensorDataset(torch.zeros(6, 3, 2, 4, 4), torch.arange(6))
    noisy = NoisyFrames(base, [4, 1], noise=0.5, seed=3)
    assert len(noisy) == 2 and noisy[0][1] == 4 and noisy[1][1] == 1
    x, _ = noisy[0]
    assert torch.equal(x, noisy[0][0])  # the same noise every epoch
    assert x.sum() > 0 and torch.equal(x, x.round()) and not torch.equal(x, noisy[1][0])
    assert torch.equal(NoisyFrames(base, [4], noise=0.0, seed=3)[0][0], base[4][0])


def test_study_models_shapes_and_imp_sharing():
    import torch

    from spikeforge.neuron.nodes import materialize
    from spikeforge.reproduce.models import Mnist1dConvSNN, NarrowVGGLegacy

    neuron = {"type": "if", "v_reset": None, "imp": "learn", "imp_sharing": "channel", "imp_init": "uniform(0.4, 0.6)"}
    net = Mnist1dConvSNN(neuron=neuron)
    x = torch.randn(2, 3, 40)
    materialize(net, x)
    assert net(x).shape == (2, 3, 10)
    assert net.sn1.imp.shape[0] == 32 and net.sn1.imp.numel() == 32  # one IMP per channel
    assert 0.4 <= float(net.sn1.imp.detach().min()) and float(net.sn1.imp.detach().max()) <= 0.6
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv1d))
    vgg = NarrowVGGLegacy(T=3)
    assert vgg(torch.rand(3, 2, 2, 16, 16)).shape == (3, 2, 10)


def test_claim6_note_says_when_the_learned_count_is_the_init_count():
    from spikeforge.reproduce.claims import patterns

    assert "equals the count at initialisation for every seed (2 of 2)" in patterns._init_note([73.0, 73.0], [73, 73])
    assert "differs from the count at initialisation for 1 of 2 seeds" in patterns._init_note([74.0, 73.0], [73, 73])
