"""The framework-free core: models, segmentation, extraction, consolidation, recollection, stores."""
