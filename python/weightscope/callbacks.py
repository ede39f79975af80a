"""Watch the layer spectra of a model change during training (Martin & Mahoney, §6-7).

- :class:`Watcher`: framework-free, for a plain training loop (``watcher.step()`` after each
  optimizer step).
- ``WeightscopeTrainerCallback``: a ``transformers.TrainerCallback``.
- ``WeightscopeLightningCallback``: a ``lightning.pytorch.Callback``.

All three analyse the live model with :func:`weightscope.analyze` every N steps, keep the
per-layer metrics (``history``) and the model means (``summary_history``) as DataFrames, and
the two callbacks log ``weightscope/alpha_mean``, ``weightscope/alpha_hat`` and
``weightscope/alpha/<longname>`` through the framework's own logging. The model is never
modified: weightscope reads ``detach()``ed CPU copies of its tensors, one at a time.

torch, transformers, lightning and matplotlib are imported only when used: this module
imports without them, and the two callback classes are created on first access.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._analyze import analyze, summary

__all__ = ["Watcher", "WeightscopeLightningCallback", "WeightscopeTrainerCallback"]

if TYPE_CHECKING:  # created on first access by __getattr__ (below)
    WeightscopeTrainerCallback: type
    WeightscopeLightningCallback: type

#: Per-layer columns kept in ``history`` (those the analysis has; ``mp_softrank`` comes with
#: ``mp_fit=True`` or ``phase=True``, ``phase`` with ``phase=True``).
_LAYER_COLUMNS = ("alpha", "alpha_weighted", "stable_rank", "mp_softrank", "phase", "status")

#: Prefix of the logged metric names.
PREFIX = "weightscope/"


def _finite(v: Any) -> bool:
    return v is not None and not pd.isna(v) and math.isfinite(float(v))


class _Recorder:
    """Analyses a model on request and keeps the results; the common part of the watcher
    and the callbacks."""

    def __init__(self, layers: Any = None, phase: bool = False, **options: Any) -> None:
        self.options: dict[str, Any] = dict(options)
        if layers is not None:
            self.options["layers"] = layers
        if phase:
            self.options["phase"] = True
        self._rows: list[dict[str, Any]] = []
        self._summaries: list[dict[str, Any]] = []
        #: The details DataFrame of the last analysis (all of the CLI's columns), or None.
        self.last_details: pd.DataFrame | None = None
        #: The step of the last analysis, or None.
        self.last_step: int | None = None

    @property
    def history(self) -> pd.DataFrame:
        """One row per analysed step and layer: step, layer (the longname) and the metrics."""
        cols = ["step", "layer", *self._layer_columns()]
        return pd.DataFrame(self._rows, columns=cols)

    @property
    def summary_history(self) -> pd.DataFrame:
        """One row per analysed step: step, alpha_mean (the mean α), alpha_hat (the mean of
        α weighted by log λ_max), layers_analyzed."""
        cols = ["step", "alpha_mean", "alpha_hat", "layers_analyzed"]
        return pd.DataFrame(self._summaries, columns=cols)

    def _layer_columns(self) -> list[str]:
        have = self.last_details.columns if self.last_details is not None else ()
        return [c for c in _LAYER_COLUMNS if c in have or c in ("alpha", "status")]

    def record(self, model: Any, step: int) -> dict[str, float]:
        """Analyse ``model`` now, as step ``step``; returns the metrics to log."""
        details = analyze(model, **self.options)
        self.last_details = details
        self.last_step = step
        cols = self._layer_columns()
        for i in range(len(details)):
            row: dict[str, Any] = {"step": step, "layer": details["longname"].iloc[i]}
            for c in cols:
                v = details[c].iloc[i] if c in details.columns else None
                row[c] = v
            self._rows.append(row)
        s = summary(details)
        self._summaries.append(
            {
                "step": step,
                "alpha_mean": s["alpha"],
                "alpha_hat": s["alpha_weighted"],
                "layers_analyzed": s["layers_analyzed"],
            }
        )
        return self._metrics(details, s)

    @staticmethod
    def _metrics(details: pd.DataFrame, s: dict[str, Any]) -> dict[str, float]:
        """``weightscope/alpha_mean``, ``weightscope/alpha_hat`` and
        ``weightscope/alpha/<longname>``; non-finite values (failed fits) are left out."""
        out: dict[str, float] = {}
        if _finite(s["alpha"]):
            out[PREFIX + "alpha_mean"] = float(s["alpha"])
        if _finite(s["alpha_weighted"]):
            out[PREFIX + "alpha_hat"] = float(s["alpha_weighted"])
        seen: dict[str, int] = {}
        for name, a in zip(details["longname"].tolist(), details["alpha"].tolist()):
            # A tensor analysed as several matrices (conv maps) has one longname per row.
            k = seen.get(name, 0)
            seen[name] = k + 1
            key = f"{PREFIX}alpha/{name}" + (f"#{k}" if k else "")
            if _finite(a):
                out[key] = float(a)
        return out

    def plot(self, metric: str = "alpha", path: Any = None, ax: Any = None) -> Any:
        """Draw ``metric`` (a column of ``history``) against the step, one line per layer,
        with matplotlib (an optional dependency). Saves the figure to ``path`` if given;
        returns the matplotlib Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "weightscope's plot needs matplotlib (pip install matplotlib); the numbers "
                "are in .history and .summary_history"
            ) from e
        h = self.history
        if metric not in h.columns:
            raise ValueError(f"no column {metric!r} in the history (columns: {list(h.columns)})")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for layer, g in h.groupby("layer", sort=False):
            ax.plot(g["step"], g[metric].astype(float), marker="o", label=str(layer))
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        if path is not None:
            ax.figure.savefig(path, bbox_inches="tight")
        return ax


class Watcher(_Recorder):
    """Watch a model in a plain training loop.

    >>> watcher = Watcher(model, every=100)
    >>> for batch in data:
    ...     loss = ...; loss.backward(); opt.step(); opt.zero_grad()
    ...     watcher.step()                     # analyses at steps 100, 200, ...
    >>> watcher.history                        # step, layer, alpha, alpha_weighted, ...

    Args:
        model: what :func:`weightscope.analyze` takes; a ``torch.nn.Module`` is read live at
            each analysis (never modified).
        every: analyse when the step is a multiple of it.
        layers: the ``layers`` filter of ``analyze`` (``"3,attn,/mlp/"``).
        phase: also classify each layer's phase (adds the ``phase`` and ``mp_softrank``
            columns).
        **options: any other option of :func:`weightscope.analyze`.
    """

    def __init__(
        self, model: Any, every: int = 1, layers: Any = None, phase: bool = False, **options: Any
    ) -> None:
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        super().__init__(layers=layers, phase=phase, **options)
        self.model = model
        self.every = int(every)
        self._calls = 0

    def step(self, step: int | None = None) -> dict[str, float] | None:
        """Call after an optimizer step. ``step``: the step number (default: the number of
        calls so far, from 1). Analyses the model when the step is a multiple of ``every``
        and returns the metrics (``weightscope/alpha_mean``, ...), else returns None."""
        self._calls += 1
        if step is None:
            step = self._calls
        if step % self.every != 0:
            return None
        return self.record(self.model, step)


# --- the framework callbacks, created on first access ---------------------------------------

_classes: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name in ("WeightscopeTrainerCallback", "WeightscopeLightningCallback"):
        if name not in _classes:
            make = (
                _trainer_callback if name == "WeightscopeTrainerCallback" else _lightning_callback
            )
            _classes[name] = make()
        return _classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _trainer_callback() -> type:
    try:
        from transformers import TrainerCallback
    except ImportError as e:
        raise ImportError(
            "WeightscopeTrainerCallback needs transformers (pip install transformers)"
        ) from e

    class WeightscopeTrainerCallback(TrainerCallback, _Recorder):
        """A ``transformers.TrainerCallback`` that analyses the model every ``every`` global
        steps (and/or at each epoch's end with ``every_epoch=True``) and logs
        ``weightscope/alpha_mean``, ``weightscope/alpha_hat`` and
        ``weightscope/alpha/<longname>`` with the trainer's own logs.

        At an analysed step it asks the trainer to log (``control.should_log``) and adds its
        metrics to that log: to the record in ``state.log_history`` and to the ``logs`` dict
        the later callbacks receive. The reporting integrations (TensorBoard, W&B, ...) are
        callbacks the Trainer puts before the user's; to have them receive the metrics too,
        put this callback first with :meth:`attach` (``cb.attach(trainer)``) instead of
        ``Trainer(callbacks=[cb])``.

        ``history``, ``summary_history``, ``last_details`` and ``plot()`` as :class:`Watcher`.
        """

        def __init__(
            self,
            every: int | None = 100,
            layers: Any = None,
            phase: bool = False,
            every_epoch: bool = False,
            **options: Any,
        ) -> None:
            if every is not None and int(every) < 1:
                raise ValueError(f"every must be >= 1 or None, got {every}")
            _Recorder.__init__(self, layers=layers, phase=phase, **options)
            self.every = None if every is None else int(every)
            self.every_epoch = bool(every_epoch)
            self._pending: dict[str, float] | None = None

        def attach(self, trainer: Any) -> Any:
            """Put this callback first in ``trainer``'s callbacks (replacing it if there),
            so that the reporting integrations receive its metrics. Returns the trainer."""
            cbs = trainer.callback_handler.callbacks
            if self in cbs:
                cbs.remove(self)
            cbs.insert(0, self)
            return trainer

        def _analyse(self, state: Any, control: Any, model: Any) -> None:
            if model is None or not state.is_world_process_zero:
                return
            step = int(state.global_step)
            if self.last_step == step:
                return  # the same weights as the last analysis
            self._pending = self.record(model, step)
            control.should_log = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if self.every is not None and state.global_step % self.every == 0:
                self._analyse(state, control, kwargs.get("model"))
            return control

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if self.every_epoch:
                self._analyse(state, control, kwargs.get("model"))
                # The trainer logs a step once: if it has logged this one (logging_steps),
                # the metrics go into that record now.
                last = state.log_history[-1] if state.log_history else None
                if last is not None and last.get("step") == state.global_step:
                    self._flush(state)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any):
            if self._pending is None:
                return control
            if self.last_step == state.global_step and logs is not None:
                logs.update(self._pending)
            self._flush(state)
            return control

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self._flush(state)  # an analysis the trainer did not log
            return control

        def _flush(self, state: Any) -> None:
            """Put the pending metrics into ``state.log_history``: into the record of their
            step if it is the last one (Trainer.log appends a copy of ``logs`` with "step"
            before calling ``on_log``), else as a record of their own."""
            if self._pending is None:
                return
            metrics, self._pending = self._pending, None
            last = state.log_history[-1] if state.log_history else None
            if last is not None and last.get("step") == self.last_step:
                last.update(metrics)
            else:
                state.log_history.append({**metrics, "step": self.last_step})

    WeightscopeTrainerCallback.__module__ = __name__
    return WeightscopeTrainerCallback


def _lightning_callback() -> type:
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError as e:
            raise ImportError(
                "WeightscopeLightningCallback needs lightning (pip install lightning)"
            ) from e

    class WeightscopeLightningCallback(Callback, _Recorder):
        """A Lightning ``Callback`` that analyses the module every ``every_n_steps``
        optimizer steps (``on_train_batch_end``) and/or every ``every_n_epochs`` epochs
        (``on_train_epoch_end``), and logs ``weightscope/alpha_mean``,
        ``weightscope/alpha_hat`` and ``weightscope/alpha/<longname>`` to every logger of the
        trainer at the global step (as Lightning's ``LearningRateMonitor`` does, so
        ``log_every_n_steps`` does not drop them). Runs on global rank 0 only.

        ``history``, ``summary_history``, ``last_details`` and ``plot()`` as :class:`Watcher`.
        """

        def __init__(
            self,
            every_n_steps: int | None = 100,
            every_n_epochs: int | None = None,
            layers: Any = None,
            phase: bool = False,
            **options: Any,
        ) -> None:
            for k, v in (("every_n_steps", every_n_steps), ("every_n_epochs", every_n_epochs)):
                if v is not None and int(v) < 1:
                    raise ValueError(f"{k} must be >= 1 or None, got {v}")
            _Recorder.__init__(self, layers=layers, phase=phase, **options)
            self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
            self.every_n_epochs = None if every_n_epochs is None else int(every_n_epochs)

        def _analyse(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.is_global_zero:
                return
            step = int(trainer.global_step)
            if self.last_step == step:
                return  # no optimizer step since the last analysis
            metrics = self.record(pl_module, step)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kw: Any):
            n = self.every_n_steps
            if n is not None and trainer.global_step > 0 and trainer.global_step % n == 0:
                self._analyse(trainer, pl_module)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            n = self.every_n_epochs
            if n is not None and (trainer.current_epoch + 1) % n == 0:
                self._analyse(trainer, pl_module)

    WeightscopeLightningCallback.__module__ = __name__
    return WeightscopeLightningCallback
