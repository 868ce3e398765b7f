"""Keras files and objects -> torch modules: file formats and their guards, the converter
registry and converters, weight layouts, the graph model (KerasModel), building from configs and
loading weights."""
