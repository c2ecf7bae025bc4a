"""One short module per model family, built from henkan.layers and henkan.heads."""
