"""weightscope.callbacks in real short CPU training runs: the Watcher in a plain loop, the
transformers Trainer callback and the Lightning callback (each skipped when its framework is
not installed)."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import pandas as pd
import pytest

import weightscope as ws
from weightscope import callbacks

torch = pytest.importorskip("torch")

# The two hidden layers have M ≥ 100, the smallest that gets a phase; the head (M = 10) none.
SIZES = (784, 128, 100, 10)
LAYERS = ["net.0.weight", "net.2.weight", "net.4.weight"]
RTOL = 1e-12


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]),
        torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )


def batches(n: int, size: int = 32):
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        x = torch.randn(size, SIZES[0], generator=g)
        yield x, torch.randint(0, SIZES[-1], (size,), generator=g)


class Net(torch.nn.Module):
    """An MLP as a transformers/Lightning model: its weights are `net.{0,2,4}.weight`."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x, labels=None):
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= RTOL * max(abs(a), abs(b))


def test_import_without_frameworks():
    """The module imports without torch/transformers/lightning (a fresh interpreter that
    cannot import them)."""
    code = (
        "import sys\n"
        "for m in ('torch', 'transformers', 'lightning', 'pytorch_lightning', 'matplotlib'):\n"
        "    sys.modules[m] = None\n"
        "import weightscope.callbacks as c\n"
        "w = c.Watcher({'w': __import__('numpy').ones((4, 3))})\n"
        "try:\n"
        "    c.WeightscopeTrainerCallback\n"
        "except ImportError as e:\n"
        "    assert 'transformers' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
        "try:\n"
        "    w.plot()\n"
        "except ImportError as e:\n"
        "    assert 'matplotlib' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_watcher_plain_loop():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    watcher = callbacks.Watcher(model, every=2, phase=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    returned = []
    for x, y in batches(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        returned.append(watcher.step())
    assert [r is None for r in returned] == [True, False] * 3
    # The weights moved (a real training run), and the last analysis is of the final model.
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())

    h = watcher.history
    names = ["0.weight", "2.weight", "4.weight"]
    assert list(h.columns) == [
        "step",
        "layer",
        "alpha",
        "alpha_weighted",
        "stable_rank",
        "mp_softrank",
        "phase",
        "status",
    ]
    assert len(h) == 3 * 3
    assert h["step"].tolist() == [2, 2, 2, 4, 4, 4, 6, 6, 6]
    assert h["layer"].tolist() == names * 3
    assert all(math.isfinite(a) for a in h["alpha"])
    assert set(h["status"]) == {"success"}
    assert [p != "" for p in h["phase"]] == [True, True, False] * 3

    final = ws.analyze(model, phase=True)
    last = h[h["step"] == 6].reset_index(drop=True)
    for c in ("alpha", "alpha_weighted", "stable_rank", "mp_softrank"):
        assert all(close(a, b) for a, b in zip(last[c], final[c])), c
    assert last["phase"].tolist() == final["phase"].tolist()

    s = watcher.summary_history
    assert s["step"].tolist() == [2, 4, 6]
    want = ws.summary(final)
    assert close(s["alpha_mean"].iloc[-1], want["alpha"])
    assert close(s["alpha_hat"].iloc[-1], want["alpha_weighted"])

    metrics = returned[-1]
    assert close(metrics["weightscope/alpha_mean"], want["alpha"])
    assert close(metrics["weightscope/alpha_hat"], want["alpha_weighted"])
    for name, a in zip(final["longname"], final["alpha"]):
        assert close(metrics[f"weightscope/alpha/{name}"], a)


def test_watcher_explicit_steps_and_options():
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    watcher = callbacks.Watcher(model, every=10, layers="4")
    assert watcher.step(5) is None
    assert watcher.step(10) is not None
    # The model is not modified: same values, no gradients, still trainable.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert watcher.step(20) is not None
    h = watcher.history
    assert h["step"].tolist() == [10, 20]
    assert set(h["layer"]) == {"4.weight"}
    assert "phase" not in h.columns and "mp_softrank" not in h.columns
    with pytest.raises(ValueError):
        callbacks.Watcher(model, every=0)


def test_watcher_plot(tmp_path):
    watcher = callbacks.Watcher(mlp(), every=1)
    watcher.step()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="matplotlib"):
            watcher.plot(path=tmp_path / "alpha.png")
        return
    watcher.plot(path=tmp_path / "alpha.png")
    assert (tmp_path / "alpha.png").stat().st_size > 0


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.items = [
            {"x": x, "labels": y} for xb, yb in batches(n // 8, 8) for x, y in zip(xb, yb)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _trainer(tmp_path, cb, max_steps: int = 4, n: int = 64, **kw):
    transformers = pytest.importorskip("transformers")
    # transformers' Trainer needs accelerate (transformers[torch]).
    pytest.importorskip("accelerate")
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=max_steps,
        logging_steps=1,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        **kw,
    )
    model = Net()
    callbacks_ = [cb] if cb is not None else None
    return transformers.Trainer(
        model=model, args=args, train_dataset=_Dataset(n), callbacks=callbacks_
    )


def test_trainer_callback(tmp_path):
    pytest.importorskip("transformers")
    cb = callbacks.WeightscopeTrainerCallback(every=2)
    trainer = _trainer(tmp_path, cb)
    trainer.train()
    logged = [e for e in trainer.state.log_history if "weightscope/alpha_mean" in e]
    assert [e["step"] for e in logged] == [2, 4]
    # Merged into the trainer's own log record of that step (with the loss).
    assert all("loss" in e for e in logged)

    s = cb.summary_history
    assert s["step"].tolist() == [2, 4]
    for e, (_, row) in zip(logged, s.iterrows()):
        assert close(e["weightscope/alpha_mean"], row["alpha_mean"])
        assert close(e["weightscope/alpha_hat"], row["alpha_hat"])

    # The last analysis is of the final model.
    final = ws.analyze(trainer.model)
    want = ws.summary(final)
    assert close(logged[-1]["weightscope/alpha_mean"], want["alpha"])
    assert close(logged[-1]["weightscope/alpha_hat"], want["alpha_weighted"])
    assert final["longname"].tolist() == LAYERS
    for name, a in zip(final["longname"], final["alpha"]):
        assert close(logged[-1][f"weightscope/alpha/{name}"], a)
    h = cb.history
    assert len(h) == 2 * 3 and h["step"].tolist() == [2, 2, 2, 4, 4, 4]


def test_trainer_callback_every_epoch(tmp_path):
    """every_epoch: analysed at each epoch's end (2 steps an epoch here), into the record the
    trainer logged at that step."""
    pytest.importorskip("transformers")
    cb = callbacks.WeightscopeTrainerCallback(every=None, every_epoch=True)
    trainer = _trainer(tmp_path, cb, max_steps=5, n=16)
    trainer.train()
    logged = [e for e in trainer.state.log_history if "weightscope/alpha_mean" in e]
    # Epoch ends at steps 2, 4 and 5 (max_steps ends the third epoch).
    assert [e["step"] for e in logged] == [2, 4, 5]
    assert all("loss" in e for e in logged)
    assert cb.summary_history["step"].tolist() == [2, 4, 5]
    for e, a in zip(logged, cb.summary_history["alpha_mean"]):
        assert close(e["weightscope/alpha_mean"], a)


def test_trainer_callback_attach_reaches_other_callbacks(tmp_path):
    """With attach() (first in the callbacks), callbacks that come before it by default, as
    the reporting integrations do, receive the metrics in on_log."""
    transformers = pytest.importorskip("transformers")

    class Recorder(transformers.TrainerCallback):
        def __init__(self) -> None:
            self.logs: list[dict] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logs.append(dict(logs))

    rec = Recorder()
    trainer = _trainer(tmp_path, rec, max_steps=3)
    cb = callbacks.WeightscopeTrainerCallback(every=3, every_epoch=True)
    cb.attach(trainer)
    assert trainer.callback_handler.callbacks[0] is cb
    trainer.train()
    seen = [e for e in rec.logs if "weightscope/alpha_mean" in e]
    assert len(seen) == 1
    assert close(seen[0]["weightscope/alpha_mean"], cb.summary_history["alpha_mean"].iloc[-1])
    # every_epoch at the same step as the last analysis: not analysed twice.
    assert cb.summary_history["step"].tolist() == [3]


def test_lightning_callback(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.loggers import CSVLogger

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    data = list(batches(8, 8))
    xs = torch.cat([x for x, _ in data])
    ys = torch.cat([y for _, y in data])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys), batch_size=8)
    module = Module()
    cb = callbacks.WeightscopeLightningCallback(every_n_steps=2)
    logger = CSVLogger(str(tmp_path))
    trainer = pl.Trainer(
        max_steps=4,
        accelerator="cpu",
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb],
    )
    trainer.fit(module, loader)

    with open(logger.experiment.metrics_file_path, newline="") as f:
        rows = list(csv.DictReader(f))
    logged = [r for r in rows if r.get("weightscope/alpha_mean")]
    assert [int(r["step"]) for r in logged] == [2, 4]
    s = cb.summary_history
    assert s["step"].tolist() == [2, 4]
    for r, (_, row) in zip(logged, s.iterrows()):
        assert math.isclose(float(r["weightscope/alpha_mean"]), row["alpha_mean"], rel_tol=1e-9)
        assert math.isclose(float(r["weightscope/alpha_hat"]), row["alpha_hat"], rel_tol=1e-9)
    final = ws.analyze(module)
    assert final["longname"].tolist() == LAYERS
    assert close(s["alpha_mean"].iloc[-1], ws.summary(final)["alpha"])
    for name, a in zip(final["longname"], final["alpha"]):
        assert math.isclose(float(logged[-1][f"weightscope/alpha/{name}"]), a, rel_tol=1e-9)
    assert isinstance(cb.history, pd.DataFrame) and len(cb.history) == 2 * 3
