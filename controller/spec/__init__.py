"""The spec language: models, loader with positions, validation, schemas."""
