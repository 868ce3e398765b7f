"""Tools around the modules: parity testing (:mod:`.testing`, public as ``kt.testing``),
``summary``, ``--verify`` against Keras, code generation for ``convert`` and the CLI."""
