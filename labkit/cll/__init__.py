"""Complementary-label learning (CLL): label generation, every libcll method, CL-only validation.

A complementary label says which class an example is NOT. ``transition_matrix`` builds the
generating matrix Q, ``sample_complementary`` draws labels from it, ``build_method`` gives any of the
methods behind one ``loss`` / ``predict`` contract (``register_method`` adds one of your own), ``CLLObjective`` plugs one into
:func:`labkit.fit`, and ``cl_validation`` scores a model without true labels.
Taught in notebooks/01_complementary_labels.ipynb; definitions in docs/reference.md §2.
"""
from .annotators import AnnotatorLabels, simulate_annotators
from .methods import EPS, CLLMethod, build_method, list_methods, make_method, register_method
from .objective import CLLObjective
from .transitions import (check_transition, empirical_transition, list_transitions, sample_complementary,
                          to_multi_hot, transition_matrix)
from .validation import cl_validation

__all__ = ["AnnotatorLabels", "simulate_annotators", "CLLMethod", "CLLObjective", "EPS", "build_method",
           "check_transition", "cl_validation", "empirical_transition", "list_methods", "list_transitions",
           "make_method", "register_method", "sample_complementary", "to_multi_hot", "transition_matrix"]
