"""The study's protocols of issue 20 for claims 1, 3/4 and 5: arms, verdicts on hand-made numbers, below-resolution
verdicts, the claim-1 control network, and each claim end to end on a tiny budget."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from spikeforge.analysis.sweep import ArmResult
from spikeforge.reproduce import stats
from spikeforge.reproduce.claims import event_losses, imp_static, thresholds
from spikeforge.reproduce.stats import BELOW_RESOLUTION, DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, UNTESTABLE
from spikeforge.reproduce.tasks import BUDGETS, Budget, TaskBudget


def _result(name: str, accs: list[float], per_step: list[float] | None = None, extra: list[dict] | None = None):
    history = [{"epoch": i + 1, "test/acc": a} for i, a in enumerate(accs)]
    for rec, more in zip(history, extra or []):
        rec.update(more)
    return ArmResult(name, Path("/nonexistent"), accs[-1], max(accs), per_step or [], history, 1.0)


# ----------------------------------------------------------------------------- below resolution
def test_below_resolution_when_the_seeds_cannot_resolve_the_margin():
    # differences 1, -1, 0 pp: d = 0, sd = 1, se = 1/sqrt(3) = .577: [-1.15, +1.15] spans 0 and the 0.5 margin.
    # seeds for 80%: ceil((2.84162 * 1 / 0.5)^2) = ceil(32.3) = 33 > 3
    treat, base = [81.0, 79.0, 80.0], [80.0, 80.0, 80.0]
    plain = stats.compare(treat, base, margin=0.5, paired=True)
    assert plain.verdict == INCONCLUSIVE
    cmp = stats.compare(treat, base, margin=0.5, paired=True, resolve=True)
    assert cmp.verdict == BELOW_RESOLUTION
    n, sd, p, needed = stats.resolution(cmp)
    assert (n, needed) == (3, 33) and sd == pytest.approx(1.0)
    assert p == pytest.approx(stats.power(1.0, 0.5, 3))
    # a resolved result keeps its verdict: differences 3, 3.2, 2.8 -> lo = 3 - 2 * 0.2 / sqrt(3) > 0
    assert stats.compare([83.0, 83.2, 82.8], base, margin=0.5, paired=True, resolve=True).verdict == HOLDS
    # inconclusive with enough seeds stays inconclusive: differences 2, 0, 2, 0, margin 2 pp: d = 1, sd = 1.1547,
    # se = 0.577: [-0.15, 2.15]; needed = ceil((2.84162 * 1.1547 / 2)^2) = ceil(2.69) = 3 <= 4
    enough = stats.compare([82.0, 80.0, 82.0, 80.0], [80.0] * 4, margin=2.0, paired=True, resolve=True)
    assert stats.resolution(enough)[3] == 3 and enough.verdict == INCONCLUSIVE
    # differences +-10 over 40 seeds: sd = 10.127, needed = ceil((2.84162 * 10.127 / 2)^2) = ceil(207.03) = 208
    wide = stats.compare([90.0, 70.0] * 20, [80.0] * 40, margin=2.0, paired=True, resolve=True)
    assert stats.resolution(wide)[3] == 208 and wide.verdict == BELOW_RESOLUTION


def test_combine_and_conjunction_with_below_resolution():
    assert stats.combine([BELOW_RESOLUTION, BELOW_RESOLUTION, UNTESTABLE]) == BELOW_RESOLUTION
    assert stats.combine([BELOW_RESOLUTION, INCONCLUSIVE]) == INCONCLUSIVE
    assert stats.combine([HOLDS, BELOW_RESOLUTION]) == HOLDS  # at least half hold, none fails
    assert stats.conjunction([HOLDS, BELOW_RESOLUTION]) == BELOW_RESOLUTION
    assert stats.conjunction([DOES_NOT_HOLD, BELOW_RESOLUTION]) == DOES_NOT_HOLD
    assert (
        stats.count_verdicts([HOLDS, BELOW_RESOLUTION]) == "1 hold, 0 do not hold, 0 inconclusive, 1 below resolution"
    )


# ----------------------------------------------------------------------------- claim 1
_C1 = Budget("c1", seeds=(0, 1), tasks={"mnist1d_conv": TaskBudget(20, None, seeds=tuple(range(8)))})


def test_claim1_arms_T_1_2_4_with_5_and_8_seeds_and_the_bias_control():
    arms = imp_static.arms(_C1)
    by_T = {T: [a for a in arms if a.config["T"] == T] for T in imp_static.TS}
    assert imp_static.TS == (1, 2, 4)
    assert len(by_T[1]) == len(by_T[2]) == 4 * 5 and len(by_T[4]) == 4 * 8  # 4 arms; 5 seeds, 8 at T = 4
    assert {a.config["loss"]["name"] for a in arms} == {"lts"}
    assert all(a.config["epochs"] == 20 and a.config["run"]["max_steps_per_epoch"] is None for a in arms)
    neuron = {a.name.split("-")[3]: a.config for a in arms if a.config["seed"] == 0 and a.config["T"] == 4}
    assert "imp" not in neuron["imp0"]["neuron"] and "imp" not in neuron["bias"]["neuron"]
    assert neuron["bias"]["model"]["name"] == "mnist1d_convnet_bias"
    assert neuron["nA"]["neuron"]["imp_sharing"] == "neuron" and neuron["cA"]["neuron"]["imp_sharing"] == "channel"
    assert neuron["nA"]["neuron"]["imp_init"] == neuron["cA"]["neuron"]["imp_init"] == "uniform(-0.2, 0.2)"
    # the full budget: 20 epochs of full passes (1,260 steps), 8 seeds at T = 4
    full = BUDGETS["full"]
    assert full.tasks["mnist1d_conv"].epochs == 20 and full.tasks["mnist1d_conv"].steps is None
    assert imp_static.seeds(full, 4) == tuple(range(8)) and len(imp_static.seeds(full, 1)) == 5


def test_claim1_verdicts_control_and_per_step(tmp_path):
    # final accuracies per arm and seed (8 seeds at T = 4, the first 5 below); per-step accuracy of the last
    gain = {"imp0": 0.0, "nA": 0.03, "cA": 0.0, "bias": 0.01}
    results = {}
    for a in imp_static.arms(_C1):
        arm, s, T = a.name.split("-")[3], a.config["seed"], a.config["T"]
        acc = 0.85 + gain[arm] + 0.01 * (s % 3) + (0.002 * s if arm == "cA" else 0.0)
        results[a.name] = _result(a.name, [0.5, acc], per_step=[0.5 + 0.1 * t for t in range(T - 1)] + [acc])
    report = imp_static.analyze(results, _C1, tmp_path)
    cmps = {(c["comparison"], c["metric"]): c for c in report.comparisons}
    per_neuron = cmps[("T=4: IMP per neuron U(-.2, .2) vs IMP = 0", "final test acc (%)")]
    assert per_neuron["diff"] == "+3.00" and per_neuron["verdict"] == HOLDS  # +3 pp on every seed
    # per channel: +0.2 s pp, s = 0..7: d = 0.7 pp, sd 0.49: [0.35, 1.05] -> holds (above 0)
    assert cmps[("T=4: IMP per channel U(-.2, .2) vs IMP = 0", "final test acc (%)")]["verdict"] == HOLDS
    control = cmps[("T=4: IMP per neuron U(-.2, .2) vs control", "final test acc (%)")]
    assert control["diff"] == "+2.00" and control["verdict"] == HOLDS
    assert report.verdict == HOLDS
    assert (
        report.sub_verdicts["per-neuron IMP beats the input-bias control (extra parameters without dynamics)"] == HOLDS
    )
    assert ("T=1: IMP per neuron U(-.2, .2) vs IMP = 0", "step-1 test acc (%)") not in cmps  # T = 1: step 1 = final
    row = next(r for r in report.rows if r["T"] == 4 and r["imp"] == "IMP = 0")
    assert row["seeds"] == 8 and row["per_step"].startswith("[50.0, 60.0, 70.0, ")
    assert (tmp_path / "imp_static.png").is_file()


def test_claim1_control_network_has_the_per_neuron_imp_parameter_count_and_no_weight_decay():
    import torch

    from spikeforge.neuron.nodes import materialize
    from spikeforge.reproduce.models import Mnist1dConvBiasSNN, Mnist1dConvSNN
    from spikeforge.train.config import OptimConfig
    from spikeforge.train.optim import build_optimizer

    x = torch.randn(3, 2, 40)
    imp = Mnist1dConvSNN(neuron={"type": "if", "v_reset": None, "imp": "learn", "imp_sharing": "neuron"})
    materialize(imp, x)
    imps = sum(p.numel() for n, p in imp.named_parameters() if n.endswith(".imp"))
    torch.manual_seed(0)
    ctrl = Mnist1dConvBiasSNN()
    biases = [ctrl.bias1.bias, ctrl.bias2.bias]
    assert imps == sum(b.numel() for b in biases) == 32 * 40 + 64 * 20
    assert all(float(b.detach().abs().max()) <= 0.2 for b in biases)
    # with the biases at 0 and the same weights it is the plain network, step for step
    torch.manual_seed(0)
    plain = Mnist1dConvSNN()
    ctrl.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for b in biases:
            b.zero_()
    ctrl.eval(), plain.eval()
    assert torch.equal(ctrl(x), plain(x))
    with torch.no_grad():
        ctrl.bias1.bias.fill_(5.0)  # a constant drive at every step: every first-layer neuron fires at every step
    assert not torch.equal(ctrl(x), plain(x))
    opt = build_optimizer(ctrl, OptimConfig(name="adamw", lr=1e-3, weight_decay=0.01))
    no_decay = [p for g in opt.param_groups if g["weight_decay"] == 0.0 for p in g["params"]]
    assert all(any(b is p for p in no_decay) for b in biases)  # like the IMP it stands in for


# ----------------------------------------------------------------------------- claims 3 / 4
def test_claims_3_4_lambda_0_primary_and_1e3_secondary():
    budget = Budget("e", seeds=(0, 1, 2), tasks={"event_hard": TaskBudget(2, None)})
    arms = event_losses.arms(budget)
    assert len(arms) == 2 * 4 * 3
    assert {a.config["loss"]["options"]["lam"] for a in arms} == {0.0, 1e-3}
    assert {a.config["loss"]["name"] for a in arms} == {"tet", "tet_s"}
    only_primary = Budget("e", seeds=(0, 1), tasks={"event_hard": TaskBudget(2, None)}, tet_lambdas=())
    assert {a.config["loss"]["options"]["lam"] for a in event_losses.arms(only_primary)} == {0.0}


def test_claims_3_4_below_resolution_with_too_few_seeds(tmp_path):
    budget = Budget("e", seeds=(0, 1, 2), tasks={"event_hard": TaskBudget(2, None)})
    # per seed: TET 0.80, 0.82, 0.81; TET-S -0.5, +0.5, +0.3 pp; IMP + TET-S +1.0, -0.4, +0.6 pp
    offsets = {("tet", "imp0"): [0, 0, 0], ("tet_s", "imp0"): [-0.005, 0.005, 0.003],
               ("tet", "impL"): [0.002, -0.002, 0.0], ("tet_s", "impL"): [0.01, -0.004, 0.006]}  # fmt: skip
    results = {}
    for a in event_losses.arms(budget):
        loss, imp, s = a.config["loss"]["name"], a.name.split("-")[3], a.config["seed"]
        acc = [0.80, 0.82, 0.81][s] + offsets[(loss, imp)][s]
        results[a.name] = _result(a.name, [0.5, acc])
    three = event_losses.analyze_tets(results, budget, tmp_path)
    four = event_losses.analyze_imp_tets(results, budget, tmp_path)
    cmps = {c["comparison"]: c for c in four.comparisons}
    # IMP + TET-S vs TET: differences 1.0, -0.4, 0.6: d = 0.4, sd = 0.721, se = 0.416: [-0.43, 1.23]
    main = cmps["IMP + TET-S vs TET"]
    assert main["diff"] == "+0.40" and main["se"] == "0.42"
    # seeds for 80% at the 0.5 pp margin: ceil((2.84162 * 0.7211 / 0.5)^2) = ceil(16.8) = 17 > 3
    assert main["raw"]["seeds_needed"] == 17 and main["verdict"] == BELOW_RESOLUTION
    assert four.verdict == BELOW_RESOLUTION
    # TET-S vs TET, non-inferiority: differences -0.5, 0.5, 0.3: d = 0.1, se = 0.306: lo = -0.51 < -0.5
    tets = {c["comparison"]: c for c in three.comparisons}["TET-S vs TET"]
    assert tets["verdict"] == BELOW_RESOLUTION
    assert "lambda 0.001: TET-S matches or beats TET (secondary factor)" in three.sub_verdicts
    assert {r["lam"] for r in three.rows} == {"0", "0.001"}


# ----------------------------------------------------------------------------- claim 5
_C5 = Budget(
    "c5",
    seeds=(0, 1),
    tasks={
        "rouser_fig6b": TaskBudget(3, 1, seeds=tuple(range(4))),
        "rouser_fig4": TaskBudget(2, 1, seeds=(0, 1, 2)),
    },
)


def _claim5_results(fixed_acc: float):
    results = {}
    for a in thresholds.arms(_C5):
        s, learned = a.config["seed"], "fixed" not in a.name
        if a.config["neuron"].get("v_threshold") == "learn":
            assert a.config["optim"]["neuron_lr"] == (1e-2 if a.name.startswith("rouser_fig6b") else 1e-3)
        dead = [0.40, 0.30] if learned else [0.40, 0.45]  # layers.3 per sample at the end
        recs = [{"monitor/layers.1/init_dead_fraction_sample": 0.6, "monitor/layers.3/init_dead_fraction_sample": 0.7}]
        recs += [{} for _ in range(2)]
        for rec in recs:
            rec |= {"monitor/layers.1/dead_fraction_sample": dead[0], "monitor/layers.3/dead_fraction_sample": dead[1]}
            rec |= {"monitor/layers.5/dead_fraction_sample": 0.5, "monitor/layers.1/threshold_mean": 0.3}
        if a.name.startswith("rouser_fig6b"):
            # the last three evaluations: fixed 0.2 + fixed_acc - 0.2 ... their mean is fixed_acc (+2 pp learned)
            base = fixed_acc + (0.02 if learned else 0.0) + 0.002 * s
            accs = [base - 0.01, base, base + 0.01]
        else:
            accs = [0.5, 0.6, 0.7]
        results[a.name] = _result(a.name, accs, extra=recs)
    return results


def test_claim5_arms_fig6b_and_fig4_settings():
    arms = thresholds.arms(_C5)
    fig6b = [a for a in arms if a.name.startswith("rouser_fig6b")]
    fig4 = [a for a in arms if a.name.startswith("rouser_fig4")]
    assert len(fig6b) == 2 * 4 and len(fig4) == 2 * 3  # fixed vs learned; the task's own seeds
    n6 = fig6b[-1].config["neuron"]  # learned, seed 3
    assert n6["v_threshold"] == "learn" and n6["v_threshold_init"] == 0.25
    assert (n6["surrogate"]["tau"], n6["surrogate"]["scale"]) == (3.0, 3.0)
    n4 = fig4[-1].config["neuron"]
    assert n4["v_threshold_init"] == 1.25 and (n4["surrogate"]["tau"], n4["surrogate"]["scale"]) == (3.75, 1.5)
    assert all(a.config["run"]["monitor"] for a in arms)
    assert not any("lr1e-3" in a.name for a in fig6b)  # the extra Th 0.25 / lr 1e-3 arm is gone
    full = BUDGETS["full"]
    assert len(full.seeds_for("rouser_fig6b")) == 16 and full.tasks["rouser_fig6b"].epochs == 50
    assert full.tasks["rouser_fig4"].epochs == 20 and dict(full.tasks["rouser_fig4"].overrides)["run.eval_every"] == 5
    # a task's own seeds may exceed the budget's (16 > 5); --seeds N gives every task seeds 0..N-1
    assert full.seeds == (0, 1, 2, 3, 4)
    assert full.with_seeds(3).seeds_for("rouser_fig6b") == (0, 1, 2) == full.with_seeds(3).seeds_for("rouser_fig4")


def test_claim5_baseline_that_trains_makes_the_rescue_untestable(tmp_path):
    report = thresholds.analyze(_claim5_results(fixed_acc=0.85), _C5, tmp_path)
    assert report.verdict == "untestable here: the baseline trains"
    sub = report.sub_verdicts
    assert sub["rescue (Fig 6b: the fixed arm fails, the learned one trains)"] == "untestable here: the baseline trains"
    # +2 pp on every seed (mean of the last three evaluations): holds above the 1 pp margin
    assert sub["higher accuracy with learned thresholds (Fig 6b, margin 1 pp)"] == HOLDS
    # layers.1 equal on every seed (a tie), layers.3 45% -> 30% (holds): combined, holds
    assert sub["fewer dead neurons per sample (Fig 4)"] == HOLDS
    rows = {(r["setting"].split(" (")[0], r["mode"]): r for r in report.rows}
    assert rows[("Fig 6b", "fixed")]["acc"] == "85.30 ± 0.26"  # mean over seeds of 0.85 + 0.002 s
    assert rows[("Fig 4", "fixed")]["dead"].startswith("layers.1: ep0 60.0, ep1 40.0, ep2 40.0, ep3 40.0")


def test_claim5_baseline_that_fails_is_rescued(tmp_path):
    report = thresholds.analyze(_claim5_results(fixed_acc=0.12), _C5, tmp_path)
    assert report.sub_verdicts["rescue (Fig 6b: the fixed arm fails, the learned one trains)"] == HOLDS
    dead = {c["comparison"]: c for c in report.comparisons if c["metric"].startswith("dead")}
    assert dead["Fig 4: learned lr 1e-3 vs fixed, layers.3"]["verdict"] == HOLDS  # 45% -> 30% on every seed
    assert not any("layers.5" in k for k in dead)  # the spiking output layer is not judged
    assert (tmp_path / "thresholds_fig4.png").is_file() and (tmp_path / "thresholds_fig6b_th0.25.png").is_file()


# ----------------------------------------------------------------------------- end to end, tiny budget
@pytest.mark.slow
@pytest.mark.parametrize("claims", [[1], [3, 4], [5]])
def test_claims_run_end_to_end_on_a_tiny_budget(tmp_path, claims, one_thread, monkeypatch):
    from spikeforge.reproduce.study import run_study

    monkeypatch.setattr(imp_static, "TS", (2,))  # one T keeps claim 1 at 8 one-step runs

    tasks = {
        "mnist1d_conv": TaskBudget(1, 1),
        "event_hard": TaskBudget(1, 1),
        "rouser_fig6b": TaskBudget(1, 1),
        "rouser_fig4": TaskBudget(1, 1),
    }
    budget = Budget("tiny", seeds=(0, 1), tasks=tasks, tet_lambdas=())
    reports = run_study(tmp_path, budget=budget, claims=claims, jobs=1, log=None)
    assert [r.number for r in reports] == claims
    for r in reports:
        assert r.comparisons and r.rows and all(Path(f).is_file() for f in r.figures)
        assert all(c["seeds"] == "n/a" or c["seeds"].startswith("2 (") for c in r.comparisons)
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"Claim {n}" in summary for n in claims)
    assert math.isfinite(reports[0].run_seconds)
