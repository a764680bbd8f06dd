"""Keep a model's checkpoint key names when its modules are regrouped into shared components.

Why: issue 12 requires that run directories written before the components existed still load
and answer identically. ``TextCNN`` and ``RecurrentClassifier`` are now assembled from
``seqlab.nn`` / ``seqlab.models`` parts, which moves some parameters one module down
(``embedding.weight`` is now ``encoder.embedding.weight`` inside the classifier). These hooks
translate between the two spellings, so ``state_dict()`` still writes the old names and
``load_state_dict()`` accepts them: the checkpoint format does not change, only the module tree.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

__all__ = ["keep_state_dict_names"]


def _rename(key: str, prefix: str, table: tuple[tuple[str, str], ...]) -> str:
    rest = key[len(prefix):]
    for source, target in table:
        if rest.startswith(source):
            return prefix + target + rest[len(source):]
    return key


class _SaveUnderOldNames:
    """``state_dict`` post-hook (a class, not a closure, so the module stays picklable)."""

    def __init__(self, table: tuple[tuple[str, str], ...]) -> None:
        self.table = table

    def __call__(self, module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
        items = [(_rename(k, prefix, self.table) if k.startswith(prefix) else k, v) for k, v in state_dict.items()]
        state_dict.clear()  # rebuilt in place: the parent's dict, same order as before the rename
        state_dict.update(items)


class _LoadOldNames:
    """``load_state_dict`` pre-hook: old names back to the modules' own names."""

    def __init__(self, table: tuple[tuple[str, str], ...]) -> None:
        self.table = table

    def __call__(self, module: nn.Module, state_dict: dict, prefix: str, *unused) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = _rename(key, prefix, self.table)
            if new != key:
                state_dict[new] = state_dict.pop(key)


def keep_state_dict_names(module: nn.Module, renames: Mapping[str, str]) -> None:
    """Make ``module`` save and load its state under older key prefixes.

    Args:
        module: the model whose checkpoint names must not change.
        renames: ``{prefix in the module tree: prefix in checkpoints}``, relative to ``module``,
            e.g. ``{"encoder.embedding.": "embedding.", "encoder.rnn.": "encoder."}``. The first
            matching prefix wins; keys under no prefix keep their names.

    ``named_parameters()`` keeps the module tree's names; only ``state_dict`` /
    ``load_state_dict`` (what checkpoints hold) use the old ones.
    """
    table = tuple(renames.items())
    module.register_state_dict_post_hook(_SaveUnderOldNames(table))
    module.register_load_state_dict_pre_hook(_LoadOldNames(tuple((old, new) for new, old in table)))
