"""Atomic writes: no half-written file under a final name, stale temporaries cleaned,
compare-and-replace between writers, outputs checked before any work."""

import os
import subprocess
import sys

import pytest

from tsae.atomic import (
    ANY,
    ChangedError,
    atomic_file,
    check_output_path,
    figure_format,
    file_identity,
    refuse_overwriting_inputs,
    remove_stale_temps,
    write_json,
)
from tsae.errors import TsaeError


def _temps(directory):
    return sorted(p.name for p in directory.iterdir() if ".tsae-tmp-" in p.name)


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_file(target) as fh:
        fh.write(b"new")
        assert target.read_bytes() == b"old"  # nothing visible before the end
        assert len(_temps(tmp_path)) == 1
    assert target.read_bytes() == b"new"
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_file(target) as fh:
            fh.write(b"half")
            raise error
    assert target.read_bytes() == b"old"
    assert _temps(tmp_path) == []


def test_a_failing_write_is_one_tsae_error_naming_the_file(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(TsaeError, match="cannot write output .*out.bin: No space left"):
        with atomic_file(target, what="output"):
            raise OSError(28, "No space left on device")
    assert not target.exists() and _temps(tmp_path) == []


def test_text_mode_writes_utf8(tmp_path):
    with atomic_file(tmp_path / "t.txt", "w") as fh:
        fh.write("café")
    assert (tmp_path / "t.txt").read_bytes() == "café".encode()


def test_new_files_get_the_umask_mode_and_existing_ones_keep_theirs(tmp_path):
    fresh = tmp_path / "fresh"
    with atomic_file(fresh) as fh:
        fh.write(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    kept = tmp_path / "kept"
    kept.write_bytes(b"x")
    kept.chmod(0o640)
    with atomic_file(kept) as fh:
        fh.write(b"y")
    assert kept.stat().st_mode & 0o777 == 0o640


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "model.tsae"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = tmp_path / f".model.tsae.tsae-tmp-{int(dead.stdout)}-0123abcd"
    live = tmp_path / f".model.tsae.tsae-tmp-{os.getpid()}-89abcdef"
    other = tmp_path / f".other.tsae-tmp-{int(dead.stdout)}-0123abcd"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    assert remove_stale_temps(target) == [str(stale)]
    assert not stale.exists() and live.exists() and other.exists()
    with atomic_file(target) as fh:  # every write cleans up after dead writers of its target
        fh.write(b"x")
    assert live.exists()


def test_compare_and_replace_refuses_a_target_changed_since_it_was_read(tmp_path):
    target = tmp_path / "model.tsae"
    target.write_bytes(b"v1")
    seen = file_identity(target)
    with atomic_file(tmp_path / "other") as fh:  # a concurrent writer replaces the target
        fh.write(b"v2")
    os.replace(tmp_path / "other", target)
    with pytest.raises(ChangedError, match="changed since it was read"):
        with atomic_file(target, expect=seen) as fh:
            fh.write(b"v3")
    assert target.read_bytes() == b"v2"
    assert _temps(tmp_path) == []
    with atomic_file(target, expect=file_identity(target)) as fh:
        fh.write(b"v3")
    assert target.read_bytes() == b"v3"


def test_expect_none_means_the_target_must_not_appear_meanwhile(tmp_path):
    target = tmp_path / "model.tsae"
    seen = file_identity(target)
    assert seen is None
    target.write_bytes(b"someone else's")
    with pytest.raises(ChangedError):
        with atomic_file(target, expect=seen) as fh:
            fh.write(b"mine")
    assert target.read_bytes() == b"someone else's"
    with atomic_file(target, expect=ANY) as fh:
        fh.write(b"mine")
    assert target.read_bytes() == b"mine"


def test_check_output_path(tmp_path):
    check_output_path(tmp_path / "fine.csv")
    assert _temps(tmp_path) == []
    with pytest.raises(TsaeError, match="directory .*missing.* does not exist"):
        check_output_path(tmp_path / "missing" / "x.csv")
    with pytest.raises(TsaeError, match="it is a directory"):
        check_output_path(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(TsaeError, match="does not exist"):
        check_output_path(tmp_path / "file" / "x.csv")


def test_check_output_path_in_a_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        probe = locked / "probe"
        try:  # root ignores permission bits: then the directory is writable and must pass
            probe.write_text("x")
            probe.unlink()
            writable = True
        except PermissionError:
            writable = False
        if writable:
            check_output_path(locked / "x.csv")
        else:
            with pytest.raises(TsaeError, match="Permission denied"):
                check_output_path(locked / "x.csv")
    finally:
        locked.chmod(0o700)


def test_outputs_equal_to_an_input_are_refused(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("v\n1\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    for output in (data, tmp_path / "." / "data.csv", link):
        with pytest.raises(TsaeError, match="same file as the input"):
            refuse_overwriting_inputs(output, tmp_path / "model.tsae", data)
    os.link(data, tmp_path / "hard.csv")
    with pytest.raises(TsaeError, match="same file"):
        refuse_overwriting_inputs(tmp_path / "hard.csv", data)
    refuse_overwriting_inputs(tmp_path / "scores.csv", data)
    refuse_overwriting_inputs(None, data)
    refuse_overwriting_inputs("-", data)


def test_write_json_and_figure_formats(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": 1\n}\n'
    assert figure_format("x.PNG") == "png" and figure_format("x.svg") == "svg"
    with pytest.raises(TsaeError, match=r"unsupported image type '\.docx'"):
        figure_format("plot.docx")
    with pytest.raises(TsaeError, match=r"\(no suffix\)"):
        figure_format("plot")
