"""``spikeforge models [NAME]``: the registered models, or one model's options and default neuron.

What a config's ``model:`` section may say: ``model.name`` is one of the names listed, and
``model.options`` takes the keyword options shown for it (``neuron`` is the config's own
``neuron:`` section; ``num_classes`` and ``T`` are filled in from the dataset and the config
when the model takes them).
"""

from __future__ import annotations

import argparse
import inspect
import sys

from ..errors import SpikeForgeError

__all__ = ["add_models_parser", "run_models"]

# filled in by the engine from the dataset and the config, not written in model.options
_FROM_THE_RUN = ("neuron", "num_classes", "T")


def add_models_parser(subparsers: argparse._SubParsersAction) -> list[str]:
    """Add the ``models`` sub-command to ``subparsers``; returns the command names it added."""
    p = subparsers.add_parser(
        "models",
        help="list the registered models, or show one model's options and default neuron",
        description="The names a config's model.name can take; with NAME, that model's model.options.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a registered model (e.g. digits_convnet)")
    return ["models"]


def _shape(input_shape: tuple[int, ...]) -> str:
    return "[T, B, " + ", ".join(str(s) for s in input_shape) + "]"


def _yaml(value: object) -> str:
    """``value`` as it is written in a YAML config (``(32, 64)`` -> ``[32, 64]``, ``True`` -> ``true``)."""
    import yaml

    plain = list(value) if isinstance(value, tuple) else value
    try:
        text = yaml.safe_dump(plain, default_flow_style=True).strip()
    except yaml.YAMLError:  # not a YAML value (a callable default, say): Python's spelling
        return repr(value)
    return text.removesuffix("...").strip()


def _list() -> None:
    from ..models import MODELS  # the package: importing it registers every built-in model

    width = max(len(n) for n in MODELS)
    shapes = {n: _shape(info.input_shape) for n, info in MODELS.items()}
    shape_width = max(len(s) for s in shapes.values())
    for name in sorted(MODELS):
        print(f"{name:{width}s}  {shapes[name]:{shape_width}s}  {MODELS[name].description}")
    print(f"{len(MODELS)} models; `spikeforge models NAME` shows one model's options")


def _show(name: str) -> None:
    import yaml

    from ..models import model_info

    info = model_info(name)  # UserError listing the known names
    print(f"{name}: {info.description}")
    print(f"input: {_shape(info.input_shape)} (time first)")
    params = inspect.signature(info.builder).parameters.values()
    options = [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    print("model.options (default):")
    for p in options:
        if p.name in _FROM_THE_RUN:
            continue
        default = "(required)" if p.default is inspect.Parameter.empty else _yaml(p.default)
        print(f"  {p.name}: {default}")
    filled = [p.name for p in options if p.name in _FROM_THE_RUN and p.name != "neuron"]
    if filled:
        print(f"from the run: {', '.join(filled)}")
    neuron = yaml.safe_dump(dict(info.default_neuron), sort_keys=False, default_flow_style=None).rstrip()
    print("default neuron (used when the config's neuron: section is empty):")
    print("\n".join("  " + line for line in neuron.splitlines()))


def run_models(args: argparse.Namespace) -> int:
    """List the models or show one; an unknown name prints one line and returns 2."""
    try:
        if args.name is None:
            _list()
        else:
            _show(args.name)
    except SpikeForgeError as e:  # the user's faults only
        if getattr(args, "debug", False):
            raise
        print(f"spikeforge models: error: {e}", file=sys.stderr)
        return 2
    return 0
