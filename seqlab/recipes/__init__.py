"""Recipes: TOML files read by ``seqlab run RECIPE``."""
