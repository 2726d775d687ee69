"""One runner per story, each returning rows of results (one dict per seed), and the tools for rows.

``run_cll`` (complementary labels, with Mixup / ICM as options; :mod:`.cll`), ``run_imbalanced``
(long-tailed data, SMOTE to MAMix; :mod:`.imbalanced`) and ``run_clip`` (image-report alignment;
:mod:`.clip`), each configured by a frozen dataclass (``CLLConfig``, ``ImbalancedConfig``,
``CLIPConfig``; :mod:`.config`). ``summarize(rows)`` reduces rows to mean ± std per configuration;
``save_rows`` writes CSV or JSON with the configurations beside it (:mod:`.results`). The ``labkit``
command line (:mod:`labkit.cli`) is generated from the configurations: every field is a flag.
Results are data: select on validation, report mean ± std over seeds, never tune on test.
"""
from .cll import CLL_AUGMENTS, CLL_REAL_WORLD, CLL_SELECT, CLLConfig, run_cll
from .clip import CLIPConfig, run_clip
from .config import RunConfig, check_seeds, knob, resolve_dataset
from .imbalanced import IMBALANCED_STRATEGIES, ImbalancedConfig, balanced_accuracy, fit_imbalanced, run_imbalanced
from .sweep import USER_ERRORS, SweepResult, check_output, journal_path, sweep
from .results import (CONFIGS, RUNNERS, config_path, format_paired, format_table, load_rows, paired_differences, save_rows,
                      shipped_results, summarize)

__all__ = ["run_cll", "run_imbalanced", "fit_imbalanced", "IMBALANCED_STRATEGIES", "run_clip", "summarize",
           "save_rows", "format_table", "resolve_dataset", "check_seeds", "CLLConfig", "ImbalancedConfig",
           "CLIPConfig", "RunConfig", "knob", "config_path", "CONFIGS", "CLL_SELECT", "CLL_AUGMENTS",
           "CLL_REAL_WORLD", "balanced_accuracy", "paired_differences", "format_paired", "load_rows",
           "shipped_results", "sweep", "SweepResult", "RUNNERS", "USER_ERRORS",
           "check_output", "journal_path"]

RUNNERS.update(cll=run_cll, imbalanced=run_imbalanced, clip=run_clip)
