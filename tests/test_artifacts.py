"""Artifact I/O: atomic writes that refuse non-regular targets and respect the umask; bounded,
strict reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hil.artifacts import parse_json, read_json, write_atomic
from hil.errors import ArtifactError, ConfigError


@pytest.fixture
def umask():
    def set_(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o000])
def test_new_files_get_0666_less_the_umask(tmp_path: Path, umask, mask: int) -> None:
    umask(mask)
    path = write_atomic(tmp_path / "a.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    with open(tmp_path / "plain", "w") as fh:  # exactly what a plain open() gives
        fh.write("x")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask) -> None:
    path = tmp_path / "a.json"
    path.write_text("old")
    path.chmod(0o640)
    umask(0o000)
    write_atomic(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_non_regular_targets_are_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        target = tmp_path / "d"
        target.mkdir()
    elif kind == "fifo":
        target = tmp_path / "f"
        os.mkfifo(target)
    else:
        target = Path("/dev/full")  # as root, a rename used to replace the device node
    before = os.stat(target)
    with pytest.raises(ArtifactError, match="allowed: a new or regular file"):
        write_atomic(target, "x")
    after = os.stat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )
    assert not list(target.parent.glob(f".{target.name}.*.tmp"))


def test_unwritable_folder_is_an_artifact_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot write /proc/x.json"):
        write_atomic("/proc/x.json", "x")
    with pytest.raises(ArtifactError, match="cannot write"):
        write_atomic(tmp_path / "a\0b", "x")
    assert list(tmp_path.iterdir()) == []


def test_reads_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="too large"):
        read_json("/dev/zero", "config file")  # used to read forever
    with pytest.raises(ArtifactError, match="No such file"):
        read_json(tmp_path / "missing.json", "config file")


@pytest.mark.parametrize(
    "text,value",
    [
        (b'{"a": "caf\xe9"}', "byte 0xe9 at offset 10"),  # latin-1
        (b"[" * 60_000, "nested too deep"),
        (b"[" * 65 + b"]" * 65, "nested too deep"),
        (b'{"tag": ' + b"9" * 5000 + b"}", "an integer of 5000 digits"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": 1e999}', "the number 1e999"),
        (b'{"a": ', "line 1 column 7"),
    ],
)
def test_bad_json_is_one_bounded_config_error(tmp_path: Path, text: bytes, value: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as err:
        read_json(path, "config file")
    assert value in str(err.value) and "allowed" in str(err.value)
    assert len(str(err.value)) < 700


def test_strict_json_still_reads_what_is_valid() -> None:
    deep = "[" * 64 + "]" * 64
    assert parse_json(deep, "x") is not None
    assert parse_json('{"a": [1, 2.5, -3, true, null, "\\u00e9"]}', "x") == {
        "a": [1, 2.5, -3, True, None, "é"]
    }
