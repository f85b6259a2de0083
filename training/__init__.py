"""Offline side: corpus -> teacher labels -> distillation -> evaluation -> export."""
