"""``spikeforge models [NAME]``: the registered models, or one model's options and default neuron.

What a config's ``model:`` section may say: ``model.name`` is one of the names listed, and
``model.options`` takes the keyword options shown for it (``neuron`` is the config's own
``neuron:`` section; ``num_classes`` and ``T`` are filled in from the dataset and the config
when the model takes them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..command_registry import register_command
from ..errors import SpikeForgeError
from .listing import print_table

__all__ = ["run_models"]

# filled in by the engine from the dataset and the config, not written in model.options
_FROM_THE_RUN = ("neuron", "num_classes", "T")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="a registered model (e.g. digits_convnet)")


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
    from ..models import MODELS

    rows = [(name, _shape(info.input_shape), info.description) for name, info in MODELS.items()]
    print_table(rows, f"{len(rows)} models; `spikeforge models NAME` shows one model's options")


def _show(name: str) -> None:
    import yaml

    from ..models import model_info

    info = model_info(name)  # UserError listing the known names
    print(f"{name}: {info.description}")
    print(f"input: {_shape(info.input_shape)} (time first)")
    options = list(dataclasses.fields(info.options_type))  # in the builder's order
    defaults, required = info.defaults(), info.required()
    print("model.options (default):")
    for name in (f.name for f in options if f.name not in _FROM_THE_RUN):
        print(f"  {name}: {'(required)' if name in required else _yaml(defaults[name])}")
    filled = [f.name for f in options if f.name in _FROM_THE_RUN and f.name != "neuron"]
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


register_command(
    "models",
    help="list the registered models, or show one model's options and default neuron",
    description="The names a config's model.name can take; with NAME, that model's model.options.",
    configure=_configure,
    handler=run_models,
)
