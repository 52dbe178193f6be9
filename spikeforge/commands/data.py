"""``spikeforge data list | info | prepare``: inspect datasets on disk and build their frame caches.

Wire into a CLI with::

    data_parser = add_data_parser(subparsers)   # adds the "data" command
    ...
    if args.command == "data":
        return run_data(args)

``python -m spikeforge.commands.data ...`` runs it standalone.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from ..command_registry import add_command_parser, register_command

__all__ = ["add_data_parser", "main", "run_data"]


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE parsed as YAML (``48`` -> int, ``null`` -> None, ``[48, 48]`` -> list)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"cannot parse the value of {key!r}: {exc}") from None


def _configure(parser: argparse.ArgumentParser) -> None:
    """The ``data`` sub-commands ``list``, ``info`` and ``prepare`` and their arguments."""
    sub = parser.add_subparsers(dest="data_command", metavar="{list,info,prepare}")
    sub.required = True
    sub.add_parser("list", help="registered datasets, their kind, classes and options")
    info = sub.add_parser("info", help="what was found under --root, what is missing, and the expected layout")
    info.add_argument("dataset", help="registry name, e.g. nmnist, cifar10_dvs, shd")
    info.add_argument("--root", help="folder that holds (or should hold) the dataset")
    prep = sub.add_parser("prepare", help="read every sample once and build the frame cache")
    prep.add_argument("dataset", help="registry name")
    prep.add_argument("--root", help="folder that holds the dataset (optional for sim_event_digits)")
    prep.add_argument("--T", type=int, nargs="+", metavar="T", help="number of frames (several values: one cache each)")
    prep.add_argument("--split", choices=("train", "test", "both"), default="both")
    prep.add_argument("--workers", type=int, help="processes building the cache (default: one per CPU, at most 8)")
    prep.add_argument("--cache-dir", help="cache location (default ROOT/.spikeforge_cache)")
    prep.add_argument(
        "-o",
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, e.g. -o split_by=time -o size=48 (repeatable)",
    )


def _defaults(info: Any) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in sorted(info.defaults().items())) or "(none)"


def _list() -> int:
    from .listing import list_datasets

    return list_datasets()


def _info(name: str, root: str | None) -> int:
    from ..data.errors import DataFormatError, DatasetNotFoundError
    from ..data.registry import dataset_info

    info = dataset_info(name)
    print(f"{name}: {info.description}")
    print(f"kind: {info.kind}   classes: {info.num_classes}   needs root: {'yes' if info.needs_root else 'no'}")
    print(f"options: {_defaults(info)}")
    layout = info.layout
    if layout is None:
        print("files: none needed (generated or bundled)")
        return 0
    print("expected layout:")
    print("\n".join("  " + line for line in layout.tree.splitlines()))
    if root is None and name == "sim_event_digits":
        from ..data.simulate import default_root

        root = str(default_root())
    if root is None:
        print("root: not given (--root DIR)")
        return 1
    print(f"root: {root}")
    missing = corrupt = 0
    for split in ("train", "test"):
        try:
            print(f"  {split}: found {layout.probe(root, split)}")
        except DatasetNotFoundError as exc:
            missing += 1
            print(f"  {split}: MISSING: {exc}")
        except DataFormatError as exc:  # present but unreadable: say so, and why
            corrupt += 1
            print(f"  {split}: CORRUPT: {exc}")
    if missing and name == "sim_event_digits":
        print("  (generated on first use, or now with `spikeforge data prepare sim_event_digits`)")
    return 1 if missing or corrupt else 0


def _prepare(args: argparse.Namespace) -> int:
    from ..data.registry import build_dataset, dataset_info
    from ..errors import UserError

    info = dataset_info(args.dataset)
    options = dict(args.option)
    params = info.defaults()
    if "cache" in params and args.dataset != "sim_event_digits":
        options.setdefault("cache", True)
    if args.workers is not None and "workers" in params:
        options["workers"] = args.workers
    if args.cache_dir is not None:
        if "cache_dir" not in params:
            raise UserError(f"dataset {args.dataset!r} has no cache")
        options["cache_dir"] = args.cache_dir
    splits = ("train", "test") if args.split == "both" else (args.split,)
    for T in args.T or [None]:
        for split in splits:
            ds = build_dataset(args.dataset, split, root=args.root, T=T, **options)
            cache = getattr(ds, "cache", None)
            where = f"frames cached in {cache.directory}" if cache is not None else "ready (nothing to cache)"
            t_text = "" if T is None else f" T={T}"
            print(f"{args.dataset} {split}{t_text}: {len(ds)} samples, {where}")
    return 0


def run_data(args: argparse.Namespace) -> int:
    """Run a parsed ``data`` command; returns the exit status (errors print one line to stderr)."""
    from ..errors import SpikeForgeError

    try:
        if args.data_command == "list":
            return _list()
        if args.data_command == "info":
            return _info(args.dataset, args.root)
        return _prepare(args)
    except SpikeForgeError as exc:  # the user's faults only (DataError is one); anything else is a bug
        print(f"error: {exc}", file=sys.stderr)
        return 1


register_command(
    "data",
    help="list datasets, show what is on disk, build frame caches",
    description="Inspect datasets on disk and prepare (cache) their frames.",
    configure=_configure,
    handler=run_data,
)
# for a parent CLI: adds the ``data`` sub-command to its subparsers and returns its parser
add_data_parser = functools.partial(add_command_parser, name="data")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m spikeforge.commands.data info nmnist --root DIR``."""
    parser = argparse.ArgumentParser(prog="spikeforge")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    return run_data(parser.parse_args(["data", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
