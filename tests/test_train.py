"""hil.train: constraints, robustness, resume, evaluation over chips, the commands (issue 10 s2, s5).

The real trainings (digits >= 90 %, robust vs standard over chips) are behind `slow`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hil.chip.geometry import SYNAPSES_PER_NEURON
from hil.cli import main
from hil.errors import ConfigError
from hil.sim import NeuronParams
from hil.tasks import get_task
from hil.train.evaluate import (
    ChipSpec,
    chip_accuracies,
    chip_instances,
    float_accuracy,
    model_params,
    model_weights,
    paired_ci,
    unseen_chips,
)
from hil.train.model import Model
from hil.train.network import ChipNet, Layout, fan_in_mask, quantize_ste
from hil.train.robust import Adversary, Prior, attack, kl, noisy_params
from hil.train.trainer import TrainConfig, to_model, train


def test_fan_in_keeps_the_64_largest_per_neuron() -> None:
    g = torch.Generator().manual_seed(1)
    w_in, w_rec = torch.randn(70, 6, generator=g), torch.randn(6, 6, generator=g)
    k_in, k_rec = fan_in_mask(w_in, w_rec)
    w = np.abs(np.concatenate([w_in.numpy(), w_rec.numpy()]))
    keep = np.concatenate([k_in.numpy(), k_rec.numpy()])
    for j in range(6):  # oracle: a plain sort
        top = set(np.argsort(-w[:, j])[:SYNAPSES_PER_NEURON])
        assert set(np.flatnonzero(keep[:, j])) == top
    small_in, small_rec = fan_in_mask(w_in[:50], w_rec)
    assert small_in.all() and small_rec.all()  # 56 candidates: nothing pruned


def test_layout_masks_and_cores() -> None:
    lay = Layout(5, 3, hidden=4, per_class=2)
    m_in, m_rec = lay.masks()
    assert m_in[:, :4].all() and not m_in[:, 4:].any()  # inputs reach the hidden layer only
    assert m_rec[:4, 4:].all() and not m_rec[4:].any() and not m_rec[:, :4].any()
    assert list(lay.core_of()) == [0] * 4 + [1] * 6
    assert lay.outputs == [[4, 5], [6, 7], [8, 9]]
    with pytest.raises(ConfigError, match="256"):
        Layout(5, 300)


def test_quantized_model_sits_on_each_cores_grid_and_decodes() -> None:
    task = get_task("frozen-noise")
    net = ChipNet(Layout(60, 2, hidden=8), quantize=True, seed=3)
    model = to_model(net, task, {})
    q = model.quantized
    assert q is not None and q["iw"].shape == (2, 4)
    assert np.allclose(q["iw"] / q["iw"][:, :1], [1, 2, 4, 8])  # binary base weights per core
    w_in, w_rec = model_weights(model)  # decoded from base weights x 4-bit masks
    assert np.allclose(w_in, model.w_in, rtol=1e-5, atol=1e-15)
    assert np.allclose(w_rec, model.w_rec, rtol=1e-5, atol=1e-15)
    for c in range(2):  # every weight into core c is k * Iw_0 of core c, k in 0..15
        cols = model.core_of == c
        k = np.abs(np.concatenate([model.w_in, model.w_rec])[:, cols]) / q["iw"][c, 0]
        assert np.allclose(k, np.rint(k), atol=1e-3) and k.max() <= 15 + 1e-3
        assert np.isclose(k.max(), 15, atol=1e-3)  # the largest weight uses all four
    # the straight-through estimator passes the gradient unchanged
    w = torch.tensor([0.3, -1.7], requires_grad=True)
    quantize_ste(w, torch.tensor(1.0)).sum().backward()
    assert torch.equal(w.grad, torch.ones(2))


def test_noise_instances_follow_the_prior() -> None:
    base = NeuronParams.nominal(50)
    p = noisy_params(base, 40, Prior(sigma_currents=0.1), seed=2)
    f = (p.Itau_mem / base.Itau_mem).numpy()
    assert f.shape == (40, 50) and 0.09 < f.std() < 0.11 and abs(f.mean() - 1) < 0.01
    assert torch.equal(p.C_mem, base.C_mem.expand(40, 50))  # capacitances untouched


def test_attack_stays_in_its_box_and_beats_random_perturbations() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=g)
    theta = [torch.randn(10, 4, generator=g), torch.randn(4, generator=g)]

    def logits_of(t: list[torch.Tensor]) -> torch.Tensor:
        return torch.tanh(x @ t[0]) * 3 + t[1]

    clean = logits_of(theta)
    adv = Adversary(steps=10, zeta=0.1)
    delta = attack(logits_of, theta, clean, adv, torch.Generator().manual_seed(1))
    for d, t in zip(delta, theta, strict=True):
        assert (d.abs() <= adv.zeta * t.abs() + 1e-7).all()
    hit = float(kl(clean, logits_of([t + d for t, d in zip(theta, delta, strict=True)])))
    rand = []
    for s in range(20):  # random corners of the same box
        r = torch.Generator().manual_seed(100 + s)
        rand.append(
            float(
                kl(
                    clean,
                    logits_of(
                        [
                            t + adv.zeta * t.abs() * torch.sign(torch.randn(t.shape, generator=r))
                            for t in theta
                        ]
                    ),
                )
            )
        )
    assert hit > 1.4 * max(rand) and hit > 2 * float(np.mean(rand))


def _tiny(**kw: object) -> TrainConfig:
    base = dict(
        task="frozen-noise",
        task_options={"duration": 0.1},
        epochs=4,
        robust="noise",
        instances=2,
        currents_every=3,
    )
    return TrainConfig(**(base | kw))  # type: ignore[arg-type]


def _state(path) -> dict:
    import io

    return torch.load(io.BytesIO(path.read_bytes()), weights_only=True)


def test_resume_continues_where_it_stopped(tmp_path) -> None:
    full, _ = train(_tiny(), tmp_path / "full.json")
    _, s1 = train(_tiny(), tmp_path / "part.json", max_epochs_now=2)
    assert s1["epochs_done"] == 2 and not s1["complete"]
    half = _state(tmp_path / "part.ckpt.pt")
    # resumed with only 2 more epochs allowed: it must finish (a restart would stop at epoch 2)
    resumed, s2 = train(_tiny(), tmp_path / "part.json", resume=True, max_epochs_now=2)
    assert s2["complete"] and s2["epochs_done"] == 4
    assert [h[0] for h in resumed.training["history"]] == [0, 1, 2, 3]
    a, b = _state(tmp_path / "full.ckpt.pt"), _state(tmp_path / "part.ckpt.pt")
    assert a["history"] == b["history"] and a["epoch"] == b["epoch"] == 3
    for k, v in a["net"].items():  # weights and per-core currents, bit for bit
        assert torch.equal(v, b["net"][k]), k
    assert any(not torch.equal(v, half["net"][k]) for k, v in a["net"].items())
    assert np.array_equal(resumed.w_in, full.w_in) and resumed.currents == full.currents
    with pytest.raises(ConfigError, match="settings differ"):
        train(_tiny(instances=3), tmp_path / "part.json", resume=True)


def test_a_checkpoint_from_before_logits_resumes_as_counts(tmp_path) -> None:
    """A checkpoint whose settings lack `logits` and `init` (written before they were settings)
    was trained on counts from random weights: it resumes under counts and is refused under
    log-counts."""
    import io

    from hil.artifacts import write_atomic

    train(_tiny(), tmp_path / "m.json", max_epochs_now=1)
    ckpt = tmp_path / "m.ckpt.pt"
    state = _state(ckpt)
    del state["config"]["logits"], state["config"]["init"]
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(ckpt, buf.getvalue())
    with pytest.raises(ConfigError, match=r"settings differ: \['logits'\]") as refused:
        train(_tiny(logits="log-counts"), tmp_path / "m.json", resume=True, max_epochs_now=1)
    assert "logits 'counts'" in str(refused.value)  # the checkpoint's value, to set it back
    _, summary = train(_tiny(), tmp_path / "m.json", resume=True, max_epochs_now=1)
    assert summary["epochs_done"] == 2


def test_training_from_a_model_starts_at_its_weights_and_currents(tmp_path) -> None:
    """`init`: the network starts as that model (written back unchanged: every weight and trained
    current), the run records the model's hash, a short run at a low rate is the default, and a
    model of another seed (whose training split holds this seed's test samples) or of another
    layout is refused before anything is written."""
    import hashlib

    from hil.train.trainer import build_net

    task = get_task("frozen-noise", duration=0.1)
    start, _ = train(_tiny(robust="none"), tmp_path / "a.json")
    init = str(tmp_path / "a.json")
    back = to_model(build_net(_tiny(init=init).resolved(), task), task, {})
    fresh = to_model(build_net(_tiny().resolved(), task), task, {})
    assert np.allclose(back.w_in, start.w_in, rtol=1e-6, atol=0)
    assert np.allclose(back.w_rec, start.w_rec, rtol=1e-6, atol=0)
    assert not np.allclose(fresh.w_in, start.w_in, rtol=1e-3, atol=0)
    for mine, theirs, nominal in zip(back.currents, start.currents, fresh.currents, strict=True):
        assert mine == pytest.approx(theirs, rel=1e-6)
        assert any(theirs[k] != pytest.approx(nominal[k], rel=1e-3) for k in theirs)
    _, part = train(_tiny(init=init, epochs=2), tmp_path / "b.json", max_epochs_now=1)
    assert part["epochs_done"] == 1 and not part["complete"]
    sha = hashlib.sha256((tmp_path / "a.json").read_bytes()).hexdigest()
    # the same model under another path text resumes; its hash, not its path, is the setting
    model, done = train(_tiny(init=str(tmp_path / ".." / tmp_path.name / "a.json"), epochs=2),
                        tmp_path / "b.json", resume=True)  # fmt: skip
    assert done["epochs_done"] == 2 and model.training["config"]["init_sha256"] == sha
    train(_tiny(robust="none", epochs=1), tmp_path / "a2.json")  # another model: no resume
    with pytest.raises(ConfigError, match=r"settings differ: \['init_sha256'\]"):
        train(_tiny(init=str(tmp_path / "a2.json"), epochs=2), tmp_path / "b.json", resume=True)
    resolved = TrainConfig(task="digits", init=init).resolved()
    assert (resolved["epochs"], resolved["lr"]) == (10, 0.01)
    mine = TrainConfig(task="digits", init=init, epochs=3, lr=0.02).resolved()
    assert (mine["epochs"], mine["lr"]) == (3, 0.02)
    assert TrainConfig(task="digits").resolved()["epochs"] == 20
    with pytest.raises(ConfigError, match=r"init.*seed 0.*seed 1"):
        train(_tiny(init=init, seed=1), tmp_path / "c.json")
    with pytest.raises(ConfigError, match=r"init.*this layout.*2 a class"):
        train(_tiny(init=init, per_class=2), tmp_path / "c.json")
    recurrent, _ = train(_tiny(robust="none", recurrent=True, epochs=1), tmp_path / "rec.json")
    assert recurrent.w_rec.any()  # its recurrent synapses would be dropped by a feed-forward net
    with pytest.raises(ConfigError, match=r"init.*this layout.*recurrent False"):
        train(_tiny(init=str(tmp_path / "rec.json")), tmp_path / "c.json")
    with pytest.raises(ConfigError, match=r"init.*other than the one this training writes"):
        train(_tiny(init=init), tmp_path / "a.json")  # would overwrite what it starts from
    assert Model.load(tmp_path / "a.json").training == start.training
    assert not list(tmp_path.glob("c.*"))


def test_training_learns_the_frozen_noise_task(tmp_path) -> None:
    model, summary = train(
        TrainConfig(
            task="frozen-noise", epochs=25, train_currents=(), task_options={"duration": 0.2}
        ),
        tmp_path / "m.json",
    )
    assert summary["test_accuracy"] == 1.0
    assert model.training["history"][-1][1] < 0.5 * model.training["history"][0][1]
    loaded = Model.load(tmp_path / "m.json")
    assert float_accuracy(loaded, get_task("frozen-noise", duration=0.2).test) == 1.0


def test_chips_without_mismatch_are_the_nominal_network() -> None:
    net = ChipNet(Layout(60, 2, recurrent=True), seed=1)
    model = to_model(net, get_task("frozen-noise"), {})
    w_in, w_rec = model_weights(model)
    base = model_params(model)
    flat = ChipSpec("normal", 0.0, 0.0, 0.0, seed=5)
    p, w = chip_instances(base, w_in, w_rec, model.core_of, [flat, flat])
    assert torch.allclose(p.Itau_mem, base.Itau_mem.expand(2, -1))
    spread = ChipSpec("lognormal", 0.2, 0.2, 0.0, seed=5)
    p2, w2 = chip_instances(base, w_in, w_rec, model.core_of, [spread])
    f = (p2.Itau_syn / base.Itau_syn).flatten()
    assert 0.1 < float(f.log().std()) < 0.3
    assert torch.equal(w2.w_in[0] > 0, w.w_in[0] > 0)  # the sign (type) never changes
    specs = unseen_chips(12)
    assert len({c.seed for c in specs}) == 12 and {c.family for c in specs} == {
        "lognormal",
        "uniform",
        "normal",
    }
    acc = chip_accuracies(model, get_task("frozen-noise").test, specs[:3])
    assert acc.shape == (3,)


def test_paired_ci_matches_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.02, 12), rng.normal(0.85, 0.03, 12)
    got = paired_ci(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert np.isclose(got["ci_low"], ci.low) and np.isclose(got["ci_high"], ci.high)


def test_robust_defaults_are_per_task() -> None:
    """frozen-noise-16's robust modes default to a 20 % prior (docs/training.md 4.5), the other
    tasks to 10 %, every task to 2 instances; frozen-noise-16 decodes by log-sum; explicit settings win, and the resolved
    configuration (what a checkpoint is checked against) carries the prior actually used."""
    fn16, digits = TrainConfig(task="frozen-noise-16"), TrainConfig(task="digits")
    assert fn16.resolved()["instances"] == 2 == digits.resolved()["instances"]
    assert fn16.resolved()["logit_scale"] == 1.0 and digits.resolved()["logit_scale"] == 0.25
    assert fn16.resolved()["prior"]["sigma_currents"] == 0.2 == fn16.resolved_prior().sigma_weights
    assert digits.resolved()["prior"] == Prior().to_dict()
    # docs/training.md 4.7: 16 outputs a class, decoded by log-sum; digits keeps 8 and sum
    assert (fn16.resolved()["per_class"], fn16.resolved()["decode"]) == (16, "log-sum")
    assert (digits.resolved()["per_class"], digits.resolved()["decode"]) == (8, "sum")
    mine = TrainConfig(task="frozen-noise-16", instances=3, prior=Prior(sigma_currents=0.05))
    assert mine.resolved()["instances"] == 3 and mine.resolved_prior().sigma_currents == 0.05


@pytest.mark.parametrize("logits", ["counts", "log-counts", "log-log-counts"])
def test_the_loss_scores_the_configured_logits(logits: str) -> None:
    """step_loss is the cross-entropy (numpy oracle) of logit_scale x counts, x log(1 + counts) or
    x log(1 + log(1 + counts)), as TrainConfig.logits says; frozen-noise-16 defaults to log-counts
    (docs/training.md 4.5), the other tasks to counts, and an unknown kind is refused."""
    from hil.train.trainer import build_net, output_counts, step_loss

    cfg = TrainConfig(task="frozen-noise", logits=logits, logit_scale=0.7).resolved()
    task = get_task("frozen-noise")
    torch.manual_seed(0)
    net = build_net(cfg, task)
    x, y = torch.as_tensor(task.test.x[:6], dtype=torch.float32), torch.as_tensor(task.test.y[:6])
    loss, _ = step_loss(net, cfg, Prior(), Adversary(), x, y, task.dt, 1, False)
    with torch.no_grad():
        w_in, w_rec = net.effective_weights()
        c = output_counts(net, x, net.params(), w_in, w_rec, task.dt, 0.0)[0].double().numpy()
    assert c.max() > 1  # counts where log(1 + c) and c differ
    log1 = np.log(1 + c)
    z = 0.7 * {"counts": c, "log-counts": log1, "log-log-counts": np.log(1 + log1)}[logits]
    p = np.exp(z - z.max(1, keepdims=True))
    want = -np.log(p[np.arange(len(y)), y.numpy()] / p.sum(1)).mean()
    assert float(loss.detach()) == pytest.approx(want, rel=1e-5)
    assert TrainConfig(task="frozen-noise-16").resolved()["logits"] == "log-counts"
    assert TrainConfig(task="digits").resolved()["logits"] == "counts"
    with pytest.raises(ConfigError, match="logits.*counts, log-counts, log-log-counts"):
        TrainConfig(task="digits", logits="rates")
    with pytest.raises(ConfigError, match="logit_scale.*> 0"):
        TrainConfig(task="digits", logit_scale=0.0)


def test_cli_train_and_evaluate(tmp_path, capsys) -> None:
    out = tmp_path / "m.json"
    argv = ["train", "--task", "frozen-noise", "--epochs", "1", "--logits", "log-counts"]
    code = main([*argv, "--logit-scale", "0.7", "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["epochs_done"] == 1 and out.exists()
    config = Model.load(out).training["config"]
    assert config["logits"] == "log-counts" and config["logit_scale"] == 0.7
    assert (tmp_path / "m.npz").exists() and (tmp_path / "m.ckpt.pt").exists()
    code = main(["evaluate", str(out), "--chips", "2", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and set(res) == {"float_sim_accuracy", "decode", "boards", "chips"}
    assert res["decode"] == "sum"  # frozen-noise's default
    assert len(res["chips"]["accuracies"]) == 2 and res["boards"] == []
    for argv in (
        ["evaluate", str(out), "--board", "nope://x"],
        ["train", "--task", "digits", "--mismatch", "m.json", "--out", str(tmp_path / "x.json")],
        ["train", "--task", "digits", "--spread", "0.2", "--out", str(tmp_path / "x.json")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("nope://x" in err[0] or "--robust none" in err[0])
    assert main(["train", "--task", "digits", "--robust", "maybe", "--out", str(out)]) == 2
    assert "invalid choice" in capsys.readouterr().err
    noisy = ["train", "--task", "frozen-noise", "--robust", "noise", "--out", str(out)]
    assert main([*noisy, "--spread", "0"]) == 2 and "--spread" in capsys.readouterr().err
    assert main([*noisy, "--spread", "0.25", "--epochs", "1", "--instances", "3", "--json"]) == 0
    cfg = Model.load(out).training
    assert cfg["prior"]["sigma_currents"] == cfg["prior"]["sigma_weights"] == 0.25
    assert "25 %" in cfg["prior"]["source"] and cfg["config"]["instances"] == 3
    hard = tmp_path / "hard.json"  # harden the model: start from its weights
    assert main([*noisy[:-1], str(hard), "--init", str(out), "--epochs", "1", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["epochs_done"] == 1  # --epochs wins over the --init default
    assert Model.load(hard).training["config"]["init"] == str(out)
    (tmp_path / "not-a-model.json").write_text("{}")
    for other, says in (
        (["--seed", "3"], "seed 3"),
        (["--init", str(tmp_path / "nope.json")], "nope.json"),
        (["--init", str(tmp_path / "not-a-model.json")], "init: "),
    ):
        assert main([*noisy[:-1], str(hard), "--init", str(out), *other]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err


@pytest.mark.slow
def test_digits_float_accuracy_reaches_90_percent(tmp_path) -> None:
    model, _ = train(TrainConfig(task="digits"), tmp_path / "digits.json")
    assert float_accuracy(model, get_task("digits").test) >= 0.90


@pytest.mark.slow
@pytest.mark.parametrize("task", ["digits", "frozen-noise-16"])
def test_robust_training_holds_on_unseen_chips(tmp_path, task: str) -> None:
    """Acceptance (issue 10): over 12 unseen emulated chips, noise training's mean accuracy is
    within 3 points of its float simulation and above standard training's (paired 95 % CI > 0)."""
    data, chips = get_task(task), unseen_chips(12)
    std, _ = train(TrainConfig(task=task), tmp_path / "std.json")
    rob, _ = train(TrainConfig(task=task, robust="noise"), tmp_path / "rob.json")
    a_std, a_rob = chip_accuracies(std, data.test, chips), chip_accuracies(rob, data.test, chips)
    assert float_accuracy(rob, data.test) - a_rob.mean() <= 0.03
    assert paired_ci(a_rob, a_std)["ci_low"] > 0


def test_experiment_tables_and_figure_from_results(tmp_path) -> None:
    from hil.train.experiment import plot, table

    levels = {"0.0": [0.9], "0.1": [0.8, 0.7]}
    mode = {
        "train": {"elapsed_s": 12.0},
        "float_sim_accuracy": 0.9,
        "chip_accuracies": [0.8, 0.7],
        "levels": levels,
    }
    noise = mode | {"vs_none": {"mean_diff": 0.05, "ci_low": 0.01, "ci_high": 0.09}}
    res = {"task": "digits", "epochs": 3, "modes": {"none": mode, "noise": noise}}
    (tmp_path / "digits-results.json").write_text(json.dumps(res))
    text = table([tmp_path])
    assert "| none | 12 | 90.0 | 75.0 (70.0) | 15.0 | - |" in text
    assert "+5.0 [+1.0, +9.0]" in text and "| noise | 90.0 +- 0.0 | 75.0 +- 5.0 |" in text
    plot([tmp_path], tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_experiment_fitted_mode_trains_against_the_fitted_model(tmp_path) -> None:
    """`--modes none,noise-fitted --mismatch M.json`: the -fitted mode's model is trained against
    the fitted file (its config names it), `none` is not, and both sit in one results file with
    the paired comparison; a -fitted mode without a model is refused before any training."""
    from hil.mismatch.model import MismatchModel, Population
    from hil.train.experiment import run

    pop = Population("lognormal", 1.0, 0.0, 0.2, None, 0.2, {}, 0.0, 1.0, {}, 100)
    m = MismatchModel({"Itau_mem": pop}, None, {"board_id": "t"}).save(tmp_path / "m.json")
    with pytest.raises(ConfigError, match="noise-fitted"):
        run("frozen-noise", tmp_path / "no", 1, modes=("none", "noise-fitted"))
    assert not (tmp_path / "no").exists()
    with pytest.raises(ConfigError, match="instances"):
        run("frozen-noise", tmp_path / "no", 1, modes=("none",), instances=0)
    with pytest.raises(ConfigError, match="logits"):
        run("frozen-noise", tmp_path / "no", 1, modes=("none",), logits="rates")
    assert not (tmp_path / "no").exists()
    res = run("frozen-noise", tmp_path / "r", 1, chips=2, per_level=1,
              modes=("none", "noise-fitted"), mismatch=m, seed=1, instances=3,
              spread=0.2, logits="log-counts", logit_scale=0.7)  # fmt: skip
    fitted = Model.load(tmp_path / "r" / "frozen-noise-noise-fitted.json").training["config"]
    assert fitted["instances"] == 3 and res["instances"] == 3 and res["spread"] == 0.2
    assert res["logits"] == "log-counts" == fitted["logits"]  # reaches training, recorded
    assert res["logit_scale"] == 0.7 == fitted["logit_scale"]
    fitted_prior = Model.load(tmp_path / "r" / "frozen-noise-noise-fitted.json").training["prior"]
    assert fitted_prior["sigma_weights"] == 0.2  # the fitted model has no weights: the prior's
    plain = Model.load(tmp_path / "r" / "frozen-noise-none.json").training["config"]
    assert fitted["robust"] == "noise" and fitted["prior"]["fitted"] == str(m.resolve())
    assert plain["prior"]["fitted"] is None and fitted["seed"] == plain["seed"] == res["seed"] == 1
    assert res["mismatch"]["path"] == str(m.resolve()) and "vs_none" in res["modes"]["noise-fitted"]
    on_disk = json.loads((tmp_path / "r" / "frozen-noise-results.json").read_text())
    assert set(on_disk["modes"]) == {"none", "noise-fitted"}


def test_experiment_warm_mode_starts_from_the_seeds_standard_model(tmp_path) -> None:
    """`--modes noise-warm,none`: `none` trains first and the warm mode starts from its model (its
    config and hash name that file); a warm mode without `none`, or an unknown suffix, is refused
    before anything is written."""
    import hashlib

    from hil.train.experiment import EXPERIMENT_MODES, _split_mode, run

    assert _split_mode("adversarial-fitted-warm") == ("adversarial", True, True)
    assert _split_mode("noise-warm") == ("noise", False, True)
    assert _split_mode("none-warm") == ("none", False, True)
    for bad in ("none-fitted-warm", "noise-warm-fitted", "none-fitted"):
        with pytest.raises(ConfigError, match="mode"):
            _split_mode(bad)
    assert len(set(EXPERIMENT_MODES)) == 10
    with pytest.raises(ConfigError, match="none among them"):
        run("frozen-noise", tmp_path / "no", 1, modes=("noise-warm",))
    assert not (tmp_path / "no").exists()
    res = run("frozen-noise", tmp_path / "r", 1, chips=2, per_level=1,
              modes=("noise-warm", "none", "none-warm"), instances=2)  # fmt: skip
    assert list(res["modes"]) == ["none", "noise-warm", "none-warm"]
    assert "vs_none" in res["modes"]["noise-warm"] and "vs_none" in res["modes"]["none-warm"]
    control = Model.load(tmp_path / "r" / "frozen-noise-none-warm.json").training["config"]
    assert control["robust"] == "none" and control["init"] == str(
        tmp_path / "r" / "frozen-noise-none.json"
    )
    none = tmp_path / "r" / "frozen-noise-none.json"
    warm = Model.load(tmp_path / "r" / "frozen-noise-noise-warm.json").training
    assert warm["config"]["init"] == str(none) and warm["config"]["robust"] == "noise"
    assert warm["config"]["init_sha256"] == hashlib.sha256(none.read_bytes()).hexdigest()
    assert Model.load(none).training["config"]["init"] is None


def test_experiment_table_pools_training_seeds(tmp_path) -> None:
    """`--table` over several seeds' folders ends with the across-seeds table: per-seed chip means
    against `none`, their mean with a t-interval over the seeds, and the count of seeds whose
    chip interval is above / below zero; results on other chips are not pooled with them."""
    from hil.train.experiment import table

    def res(seed: int, diff: float, lo: float, hi: float, chips: list) -> dict:
        none = {"train": {"elapsed_s": 1.0}, "float_sim_accuracy": 0.9, "chip_mean": 0.8,
                "chip_accuracies": [0.8, 0.8], "levels": {"0.0": [0.9]}}  # fmt: skip
        noise = none | {"chip_mean": 0.8 + diff, "float_sim_accuracy": 0.9 + diff,
                        "vs_none": {"mean_diff": diff, "ci_low": lo, "ci_high": hi}}  # fmt: skip
        return {"task": "digits", "epochs": 2, "seed": seed, "instances": 8, "chips": chips,
                "modes": {"none": none, "noise": noise}}  # fmt: skip

    runs = [(0, 0.01, -0.005, 0.025), (1, 0.03, 0.02, 0.04), (2, -0.01, -0.02, -0.001)]
    for seed, d, lo, hi in runs:
        (tmp_path / f"s{seed}").mkdir()
        (tmp_path / f"s{seed}" / "digits-results.json").write_text(
            json.dumps(res(seed, d, lo, hi, [{"seed": 1}]))
        )
    (tmp_path / "other").mkdir()  # other chips: a table of its own, not pooled
    (tmp_path / "other" / "digits-results.json").write_text(
        json.dumps(res(3, 0.5, 0.4, 0.6, [{"seed": 2}]))
    )
    text = table([tmp_path / "s0", tmp_path / "s1", tmp_path / "s2", tmp_path / "other"])
    # diffs 1, 3, -1 points: mean 1.0, s.d. 2.0, t(0.975, 2) = 4.303 -> +-4.97 points
    assert "**digits across training seeds** 0, 1, 2 (epochs: 2, 8 instances per step" in text
    assert "| noise | 3 | 10.0 | +1.0 +3.0 -1.0 | +1.00 [-3.97, +5.97] | 1 / 1 |" in text
    assert "| none | 3 | 10.0 | - | - | - |" in text and text.count("across training seeds") == 1
    assert "not pooled" in table([tmp_path / "s0", tmp_path / "s0", tmp_path / "s1"])
    for seed in (0, 1):  # the same seeds and chips, other logits: a group of their own
        (tmp_path / f"log{seed}").mkdir()
        r = res(seed, 0.2, 0.1, 0.3, [{"seed": 1}]) | {"logits": "log-counts"}
        (tmp_path / f"log{seed}" / "digits-results.json").write_text(json.dumps(r))
    text = table([tmp_path / f"s{i}" for i in range(3)] + [tmp_path / "log0", tmp_path / "log1"])
    assert text.count("across training seeds") == 2 and "logits log-counts, the same 2" in text
    assert "| noise | 3 | 10.0 | +1.0 +3.0 -1.0 | +1.00 [-3.97, +5.97] | 1 / 1 |" in text
    assert "| noise | 2 | 10.0 | +20.0 +20.0 |" in text


def test_experiment_table_compares_fitted_with_prior_paired() -> None:
    from hil.train.experiment import _fitted_vs_prior

    lv = {"0.0": [0.9, 0.9], "0.2": [0.8, 0.7]}
    noise = {"chip_accuracies": [0.7, 0.8], "levels": lv}
    fitted = {"chip_accuracies": [0.7, 0.9], "levels": {"0.0": [0.8, 0.8], "0.2": [0.8, 0.7]}}
    res = {"modes": {"none": noise, "noise": noise, "noise-fitted": fitted}}
    rows = _fitted_vs_prior(res, ["0.0", "0.2"])
    # diffs (0, 0.1): mean 5 points, se 5 points, t(0.975, 1) = 12.706 -> +-63.5 points
    assert (
        rows[-1]
        == "| noise-fitted - noise | +5.0 [-58.5, +68.5] | -10.0 (every chip) | +0.0 (every chip) |"
    )
    assert len(rows) == 4 and _fitted_vs_prior({"modes": {"none": noise}}, ["0.0"]) == []


def test_experiment_boards_table_merges_files_and_pairs_boards(tmp_path) -> None:
    from pathlib import Path

    from hil.train.experiment import boards_table

    def out(name: str, fl: float, accs: dict[str, float]) -> Path:
        boards = [{"url": f"emu://?seed={k}", "accuracy": v} for k, v in accs.items()]
        path = tmp_path / name
        path.write_text(json.dumps({"float_sim_accuracy": fl, "boards": boards}))
        return path

    files = [
        out("digits-noise-fitted-boards.json", 0.9, {"1": 0.8, "2": 0.9}),
        out("digits-noise-fitted-boards2.json", 0.9, {"3": 0.7}),
        out("digits-noise-boards.json", 0.8, {"1": 0.7, "2": 0.9, "3": 0.5}),
        out("digits-none-boards.json", 0.7, {"1": 0.8, "2": 0.9, "3": 0.7, "4": 0.1}),
    ]
    text = boards_table(files)
    # fitted - noise over boards 1..3: (0.1, 0, 0.2): mean 10, se 5.77, t(0.975, 2) = 4.303
    assert "| none | 70.0 | 80.0 | 90.0 | 70.0 | 80.0 (70.0) | - | - |" in text
    assert "| noise-fitted | 90.0 | 80.0 | 90.0 | 70.0 | 80.0 (70.0) | +0.0 [+0.0, +0.0] " in text
    assert text.index("| none |") < text.index("| noise |") < text.index("| noise-fitted |")
    assert "+10.0 [-14.8, +34.8] |" in text and "3 boards" in text
    with pytest.raises(ConfigError, match="same noise model"):
        boards_table([*files, out("digits-noise-boards3.json", 0.5, {"5": 0.5})])
    with pytest.raises(ConfigError, match="boards"):
        boards_table([out("digits-x.json", 0.5, {})])
