"""Safe archive extraction: crafted malicious tar and zip files are refused whole."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from seqlab.data.archives import extract_archive
from seqlab.errors import DataError


def _tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    return path


def test_good_tar_and_zip_extract(tmp_path):
    archive = _tar(tmp_path / "ok.tar.gz", [("data/a.txt", "file", b"alpha"), ("data/sub/b.txt", "file", b"beta"),
                                            ("data/link", "sym", "a.txt")])
    out = extract_archive(archive, tmp_path / "t")
    assert (tmp_path / "t" / "data" / "sub" / "b.txt").read_bytes() == b"beta"
    assert (tmp_path / "t" / "data" / "link").resolve() == (tmp_path / "t" / "data" / "a.txt").resolve()
    assert len(out) == 3
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("d/c.txt", "gamma")
    extract_archive(tmp_path / "ok.zip", tmp_path / "z")
    assert (tmp_path / "z" / "d" / "c.txt").read_text() == "gamma"


@pytest.mark.parametrize(
    "members, why",
    [
        ([("ok.txt", "file", b"x"), ("/tmp/evil.txt", "file", b"x")], "absolute path"),
        ([("ok.txt", "file", b"x"), ("../evil.txt", "file", b"x")], "'..' component"),
        ([("a/../../evil.txt", "file", b"x")], "'..' component"),
        ([("link", "sym", "/etc/passwd")], "points outside"),
        ([("d/link", "sym", "../../outside")], "points outside"),
        ([("hard", "hard", "../outside")], "points outside"),
        ([("pipe", "fifo", None)], "device or FIFO"),
    ],
)
def test_malicious_tar_is_refused_whole(tmp_path, members, why):
    archive = _tar(tmp_path / "evil.tar", members, mode="w")
    target = tmp_path / "target"
    with pytest.raises(DataError, match=why):
        extract_archive(archive, target)
    assert list(target.iterdir()) == []  # nothing written, not even the good member
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name, why", [("../evil.txt", "'..' component"), ("/abs.txt", "absolute path"),
                                       ("C:/win.txt", "absolute path"), ("a\\..\\..\\evil.txt", "'..' component")])
def test_malicious_zip_is_refused(tmp_path, name, why):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(zipfile.ZipInfo(name), "bad")
    with pytest.raises(DataError, match=why):
        extract_archive(path, tmp_path / "target")
    assert list((tmp_path / "target").iterdir()) == []


def test_zip_symlink_out_of_target_is_refused(tmp_path):
    path = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(DataError, match="points outside"):
        extract_archive(path, tmp_path / "target")


def test_not_an_archive(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hello")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        extract_archive(tmp_path / "x.bin", tmp_path / "t")
