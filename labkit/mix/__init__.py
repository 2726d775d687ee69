"""Mixing augmentations: Mixup and its complementary-label noise, Intra-Cluster Mixup (ICM),
and SMOTE-to-Mixup for imbalanced data with uneven margins."""
# --- Mixup, CL noise and ICM (notebooks 02/03)
from .mixup import expected_mix_share, mix, random_partners, sample_dirichlet, sample_lambda, soft_targets
from .noise import (cluster_noise_rate, expected_cluster_noise, expected_noisy_mass, expected_pair_noise, mixed_noise,
                    noise_free_partners, noisy_mass, noisy_pairs, pair_noise)
from .icm import (CLLAugment, KMeansResult, cluster_features, cluster_noise_sweep, cluster_purity,
                  build_cll_augment, intra_cluster_partners, kmeans, make_cll_augment,
                  micm_partners)
# --- SMOTE to Mixup, uneven margins (notebook 04)
from .smote import knn_indices, nearest_neighbors, oversample, sampling_counts, smote, soft_smote
from .margin import (LABEL_WEIGHTS, CosineClassifier, ImbalancedLoss, LDAMLoss, boundary_distances,
                     class_balanced_weights, class_margins, decision_grid, drw_weights, ldam_margins,
                     list_label_weights, mamix_m, mamix_weight, mixup_weight, per_class_summary,
                     remix_weight, sample_margins, soft_cross_entropy, use_cosine_head)
