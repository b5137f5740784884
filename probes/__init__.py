"""Probe-set definitions: split manifests and sampling of held-out probe items."""
