"""CLIP alignment of images and reports (LumbarCLIP, Le et al., arXiv 2509.20813; docs/reference.md §5).

``encoders`` (image and text towers built by name with ``build_vision_encoder`` /
``build_text_encoder``, projection heads), ``model`` (:class:`DualEncoder`,
:func:`fit_clip`), ``losses`` (hard, soft and sigmoid contrastive losses), ``evaluate`` (zero-shot,
linear probe, retrieval, modality gap). The data: :func:`labkit.data.make_lumbar` and
:func:`labkit.data.load_paired_folder`. Taught in notebooks/05_clip_embedding_alignment.ipynb.
"""
from .encoders import (ProjectionHead, TextEncoder, VisionEncoder, WordTokenizer, build_text_encoder,
                       build_vision_encoder, encode_texts_cached, freeze, list_text_encoders, list_vision_encoders,
                       text_encoder, vision_encoder)
from .evaluate import (classification_metrics, close_gap, image_embeddings, image_features, linear_probe,
                       modality_gap, retrieval_metrics, text_embeddings, zero_shot)
from .losses import LOSSES, CLIPObjective, clip_loss, hard_targets, siglip_loss, soft_clip_loss, soft_targets
from .model import DualEncoder, fit_clip, validation_scores

__all__ = ["CLIPObjective", "DualEncoder", "LOSSES", "ProjectionHead", "TextEncoder", "VisionEncoder",
           "WordTokenizer", "build_text_encoder", "build_vision_encoder", "classification_metrics", "clip_loss", "close_gap", "encode_texts_cached",
           "fit_clip", "freeze", "hard_targets", "image_embeddings", "image_features", "linear_probe",
           "list_text_encoders", "list_vision_encoders", "modality_gap", "retrieval_metrics", "siglip_loss",
           "soft_clip_loss", "soft_targets", "text_embeddings", "text_encoder", "validation_scores",
           "vision_encoder", "zero_shot"]
