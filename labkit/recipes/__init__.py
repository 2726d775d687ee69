"""Paper-scale recipes: ``labkit reproduce NAME`` runs a published setting and names the number to compare with.

Each recipe (:mod:`.catalog`) is data: a story's configuration class and the field values of a paper's
setting, the fields it sweeps, its seeds, the data it needs, the published numbers and their source,
and where labkit's run departs from it. :mod:`.command` runs it through
:func:`labkit.experiments.sweep` with any executor (serial, process, Ray, SLURM), after checking its
data; ``--smoke`` is a tiny CPU variant on embedded data (the tests run every one), and ``--timing``
(:mod:`.timing`) times one real-size epoch on random data of the real shape, for a GPU without data.

Recipes: ICM on MNIST and CIFAR-10 (Mai & Lin), libcll's benchmark rows (uniform and biased Q on
MNIST and CIFAR-10), MAMix-DRW on CIFAR-10-LT at ratio 100 (Cheng, Mai & Lin; the imbalanced-DL
package's schedule), and LumbarCLIP-style training (Le et al.). ``labkit reproduce --list``.
"""
from .catalog import RECIPES, Published, Recipe, get_recipe, list_recipes
from .command import main, run_recipe_task

__all__ = ["RECIPES", "Recipe", "Published", "get_recipe", "list_recipes", "main", "run_recipe_task"]
