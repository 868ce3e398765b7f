"""Parts of the benchmark suite run by ``python benchmarks/run.py`` (not an installed package).

timing (alternating blocks, machine line), ort_lstm (onnxruntime LSTM from Keras weights),
contenders (what is timed in the main process), keras_worker (Keras 3 on one backend, in a
subprocess, with kt timed alongside), profile_split (torch.profiler split), report (tables, plots).
"""
