"""A damaged byte in a language-model corpus, with the file size unchanged (issue 13 item 2).

The size check of ``ensure_files`` passes such a file; the reader must stop with a ``DataError``
naming the file, the byte offset and the fix, as the classification readers do, never a raw
``UnicodeDecodeError``.
"""

from __future__ import annotations

import shutil

import pytest

from seqlab import data
from seqlab.errors import DataError

# dataset, split, file under the data dir
CORPORA = [
    ("tinyshakespeare", "train", "tinyshakespeare/input.txt"),
    ("ptb", "valid", "ptb/ptb.valid.txt"),
    ("wikitext2", "valid", "wikitext2/valid.txt"),
    ("sst2", "dev", "kim2014/stsa.binary.dev"),  # the classification reader: same helper, same message
]


@pytest.mark.parametrize("name, split, rel", CORPORA, ids=[c[0] for c in CORPORA])
def test_invalid_byte_is_a_data_error_with_file_and_offset(real_data_dir, tmp_path, monkeypatch, name, split, rel):
    target = tmp_path / "data" / rel
    target.parent.mkdir(parents=True)
    shutil.copyfile(real_data_dir / rel, target)
    raw = bytearray(target.read_bytes())
    offset = 1234
    raw[offset] = 0xFF  # never valid in UTF-8; the size is unchanged, so the size check passes
    target.write_bytes(bytes(raw))
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError) as info:
        data.load(name, split)
    message = str(info.value)
    assert str(target) in message
    assert "byte offset 1,234 (0xFF)" in message
    assert "--verify" in message and "download it again" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no UnicodeDecodeError chained
