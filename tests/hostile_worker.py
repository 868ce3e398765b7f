"""Subprocess worker of tests/test_hostile_files.py: loads each case and reports one JSON line.

Run as ``python tests/hostile_worker.py CASES.jsonl``; the parent sets an address-space limit and
watches for crashes (a signal) and hangs (no line within the timeout). Each case is a JSON object
``{"id", "path", "mode": "model" | "weights", "arch": <architecture json path or null>,
"ref": <npz with x, y and the reference weights>}``. Outcomes:

* ``correct``: loaded, outputs equal the unmutated load's (rtol 1e-5);
* ``weights_changed``: loaded, the weights read differ from the reference (flipped bytes inside
  weight data: HDF5 keeps no checksums) -- the documented limit;
* ``silent``: loaded, same weights, different outputs (a wrong semantic: a defect);
* ``clear``: a KerasFileError / UnsupportedLayerError (or plain ValueError/TypeError from the API);
* ``leak``: any other exception type escaped;
* ``non_atomic``: load_weights failed but changed the model's weights.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    import numpy as np
    import torch

    import keraslike_torch as kt
    from keraslike_torch.converters import UnsupportedLayerError

    torch.set_num_threads(1)
    cases = [json.loads(line) for line in open(sys.argv[1])]
    archs: dict[str, str] = {}
    refs: dict[str, dict] = {}
    for case in cases:
        print(json.dumps({"start": case["id"]}), flush=True)
        t0 = time.perf_counter()
        ref = refs.get(case["ref"])
        if ref is None:
            ref = refs[case["ref"]] = dict(np.load(case["ref"]))
        x = torch.as_tensor(ref["x"])
        model = None
        before = None
        result: dict = {"id": case["id"]}
        try:
            if case["mode"] == "model":
                model = kt.load_model(case["path"])
            else:
                arch = archs.get(case["arch"])
                if arch is None:
                    arch = archs[case["arch"]] = open(case["arch"]).read()
                model = kt.model_from_json(arch)
                model.set_keras_weights([ref[f"w{i}"] * 0 + 0.5 for i in range(int(ref["nw"]))])
                before = [w.copy() for w in model.get_keras_weights()]
                kt.load_weights(model, case["path"])
            with torch.no_grad():
                y = model(x).detach().numpy()
            weights = model.get_keras_weights()
            same_w = len(weights) == int(ref["nw"]) and all(
                np.array_equal(w, ref[f"w{i}"]) for i, w in enumerate(weights))
            if y.shape == ref["y"].shape and np.allclose(y, ref["y"], rtol=1e-5, atol=1e-6):
                result["outcome"] = "correct"
            else:
                result["outcome"] = "silent" if same_w else "weights_changed"
        except (kt.KerasFileError, UnsupportedLayerError) as e:
            result.update(outcome="clear", error=type(e).__name__, message=str(e)[:300])
        except Exception as e:  # noqa: BLE001 - classify every escape
            allowed = type(e) in (ValueError, TypeError)
            result.update(outcome="clear" if allowed else "leak", error=type(e).__name__, message=str(e)[:300])
        if before is not None and result["outcome"] in ("clear", "leak"):
            after = model.get_keras_weights()
            if not all(np.array_equal(a, b) for a, b in zip(before, after)):
                result["outcome"] = "non_atomic"
        result["seconds"] = round(time.perf_counter() - t0, 3)
        result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
