"""``spikeforge data list | info | prepare`` through the standalone entry point."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from spikeforge.commands.data import add_data_parser, main, run_data
from tests.test_data_datasets import nmnist_tree


def test_list_shows_every_registered_dataset(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "nmnist",
        "ncaltech101",
        "dvs128_gesture",
        "cifar10_dvs",
        "shd",
        "sim_event_digits",
        "cifar10",
        "imagenet100",
    ):
        assert name in out


def test_info_reports_found_samples_and_layout(tmp_path, capsys):
    root = nmnist_tree(tmp_path)
    assert main(["info", "nmnist", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "expected layout:" in out and "Train/0/00002.bin" in out
    assert "train: found 20 samples from 20 files, 10 classes" in out
    assert "test: found 10 samples" in out
    assert "split_by='number'" in out  # options with their defaults


def test_info_reports_what_is_missing(tmp_path, capsys):
    assert main(["info", "cifar10_dvs", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "train: MISSING" in out and "airplane" in out
    assert main(["info", "shd"]) == 1
    assert "root: not given" in capsys.readouterr().out


def test_prepare_builds_caches_for_each_T_and_reuses_them(tmp_path, capsys):
    root = nmnist_tree(tmp_path)
    argv = ["prepare", "nmnist", "--root", str(root), "--T", "2", "3", "--workers", "1", "-o", "size=16"]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("nmnist")]
    assert len(lines) == 4 and "nmnist train T=2: 20 samples, frames cached in" in lines[0]
    caches = sorted(p.name for p in (root / ".spikeforge_cache" / "nmnist").iterdir())
    assert len(caches) == 4 and all("-16x16-" in name for name in caches)
    assert main([*argv, "--split", "test"]) == 0
    assert sorted(p.name for p in (root / ".spikeforge_cache" / "nmnist").iterdir()) == caches


def test_prepare_errors_are_one_line(tmp_path, capsys):
    root = nmnist_tree(tmp_path)
    bad = root / "NMNIST" / "Test" / "3" / "00300.bin"
    bad.write_bytes(b"\x01\x02\x03")
    assert main(["prepare", "nmnist", "--root", str(root), "--split", "test", "--workers", "1"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (stderr also has tqdm)
    assert len(errors) == 1 and errors[0].startswith("error: ") and "00300.bin" in errors[0]
    assert "multiple of 5" in errors[0]
    assert main(["prepare", "nmnist", "--root", str(root), "-o", "nonsense=1"]) == 1
    assert "has no option ['nonsense']" in capsys.readouterr().err
    assert main(["info", "no_such_dataset"]) == 1
    assert "unknown dataset" in capsys.readouterr().err


def test_bad_values_and_missing_packages_are_one_line_but_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    root = nmnist_tree(tmp_path)
    assert main(["prepare", "nmnist", "--root", str(root), "-o", "split_by=sideways"]) == 1
    assert capsys.readouterr().err.strip().endswith("split_by must be one of ('number', 'time'), got 'sideways'")
    assert main(["prepare", "nmnist", "--root", str(root), "--T", "0"]) == 1
    assert "T must be a positive integer, got 0" in capsys.readouterr().err

    import spikeforge.data.registry as registry
    from spikeforge.errors import MissingDependencyError

    def needs_a_package(*args, **kwargs):
        raise MissingDependencyError("reading SHD needs the 'h5py' package: pip install h5py", name="h5py")

    nmnist = registry.dataset_info("nmnist")
    monkeypatch.setitem(registry.DATASETS, "nmnist", dataclasses.replace(nmnist, builder=needs_a_package))
    assert main(["prepare", "nmnist", "--root", str(root)]) == 1
    assert capsys.readouterr().err.strip() == "error: reading SHD needs the 'h5py' package: pip install h5py"

    def buggy(*args, **kwargs):  # a plain ValueError from inside SpikeForge is a bug: never a one-line "error:"
        raise ValueError("an internal inconsistency")

    monkeypatch.setitem(registry.DATASETS, "nmnist", dataclasses.replace(nmnist, builder=buggy))
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["prepare", "nmnist", "--root", str(root)])


def test_parser_wires_into_a_parent_cli():
    parser = argparse.ArgumentParser(prog="spikeforge")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "prepare", "shd", "--root", "/x", "--T", "50", "-o", "duration=null"])
    assert args.command == "data" and args.data_command == "prepare" and args.T == [50]
    assert args.option == [("duration", None)]
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "prepare", "shd", "-o", "novalue"])
    assert callable(run_data)


def test_missing_dependency_survives_a_dataloader_worker_reraise():
    """DataLoader workers re-raise as ``type(exc)(message)``: the class must take the message alone."""
    from spikeforge.errors import MissingDependencyError

    exc = MissingDependencyError("reading SHD needs the 'h5py' package: pip install h5py", name="h5py")
    again = type(exc)(str(exc))
    assert isinstance(again, ModuleNotFoundError) and str(again) == str(exc)
