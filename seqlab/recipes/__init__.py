"""Recipes: TOML files read by ``seqlab run RECIPE``.

* ``<name>.toml`` — the shipped recipes (``[recipe]`` metadata with the published number,
  ``[data]``, ``[model]``, ``[train]``; see :mod:`seqlab.config`);
* :mod:`~seqlab.recipes.registry` — find / load recipes, read and record measured numbers;
* :mod:`~seqlab.recipes.runner` — ``run_recipe``: the end-to-end run behind ``seqlab run``, task-agnostic
  (the task of ``recipe.task``, :mod:`seqlab.tasks`, supplies every part).
"""
