"""The suite's RESULTS.md section and its plots, from the raw timing groups.

A group is ``{"source": "main" | "keras/<backend>", "point": {"B", "T", "U"}, "pass":
"inference" | "training", "times": {contender: [seconds per call, one per round]}}``; the
contenders of one group were timed in alternating blocks in one process.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .contenders import COMPARISONS, GATES, GEMMS_ONLY, Point, gemm_flops
from .timing import ratio

__all__ = ["section", "plots", "sweep_points"]

Group = dict[str, Any]
KERAS_CASES = ["LSTM", "LSTM hard_sigmoid", "GRU reset_after=False", "LSTM mask=holes"]


def sweep_points(base: Point, sweeps: dict[str, list[int]]) -> list[tuple[str, Point]]:
    """(column label, point) for each sweep value: one axis varied at a time from ``base``."""
    out = []
    for axis in ("T", "B", "U"):
        for v in sweeps[axis]:
            out.append((f"{axis}={v}", Point(**{**base.as_dict(), axis: v})))
    return out


def _group(groups: list[Group], source: str, p: Point, pass_: str, name: str) -> Group | None:
    for g in groups:
        if g["source"] == source and g["point"] == p.as_dict() and g["pass"] == pass_ and name in g["times"]:
            return g
    return None


def _ratio(groups: list[Group], source: str, p: Point, pass_: str, a: str, b: str) -> float | None:
    g = _group(groups, source, p, pass_, a)
    if g is None or b not in g["times"]:
        return None
    return ratio(g["times"], a, b)


def _ms(groups: list[Group], source: str, p: Point, pass_: str, name: str) -> float | None:
    g = _group(groups, source, p, pass_, name)
    return None if g is None else 1e3 * statistics.median(g["times"][name])


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _keras_sources(groups: list[Group]) -> list[str]:
    return sorted({g["source"] for g in groups if g["source"].startswith("keras/")})


def section(groups: list[Group], profiles: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown section: ratios at the base shape, across the sweeps, GFLOP/s, profile split."""
    base = Point(**meta["base"])
    cols = sweep_points(base, meta["sweeps"])
    L: list[str] = []
    add = L.append
    add(f"Mode: {meta['mode']}; {meta['rounds']} rounds of alternating blocks of about {meta['block_s']} s "
        f"(training rounds: {meta['train_rounds']}); wall time {meta['wall_s'] / 60:.1f} min; {meta['date']}.  ")
    add(f"Machine: {meta['machine']}.  ")
    if meta.get("keras_T"):
        add(f"Keras 3 pairs: inference at T = {', '.join(map(str, meta['keras_T']))} (B={base.B}, F=U={base.U}), "
            f"training step at {base.label()}.  ")
    add(f"{meta['note']}\n")

    add(f"### Ratios at {base.label()}, ours / other (below 1: ours is faster)\n")
    add("| comparison | inference | goal | training step | goal |")
    add("|---|---:|---|---:|---|")
    for label, a, b, g_inf, g_train in COMPARISONS:
        r_i = _ratio(groups, "main", base, "inference", a, b)
        r_t = _ratio(groups, "main", base, "training", a, b)
        add(f"| {label} | {_f(r_i)} | {g_inf} | {_f(r_t)} | {g_train} |")
    for src in _keras_sources(groups):
        for case in KERAS_CASES:
            ours, other = f"kt {case}", f"Keras 3/{src.split('/')[1]} {case}"
            r_i = _ratio(groups, src, base, "inference", ours, other)
            r_t = _ratio(groups, src, base, "training", ours, other)
            add(f"| kt {case} / Keras 3 on {src.split('/')[1]} | {_f(r_i)} | | {_f(r_t)} | |")

    for pass_ in ("inference", "training"):
        if not any(_group(groups, "main", p, pass_, "kt LSTM (fused)") for _, p in cols):
            continue
        add(f"\n### Ratios across the sweeps, {pass_} (one axis varied from {base.label()})\n")
        add("| comparison | " + " | ".join(c for c, _ in cols) + " |")
        add("|---|" + "---:|" * len(cols))
        for label, a, b, *_ in COMPARISONS:
            vals = [_ratio(groups, "main", p, pass_, a, b) for _, p in cols]
            if any(v is not None for v in vals):
                add(f"| {label} | " + " | ".join(_f(v) for v in vals) + " |")
        for src in _keras_sources(groups):
            for case in KERAS_CASES:
                ours, other = f"kt {case}", f"Keras 3/{src.split('/')[1]} {case}"
                vals = [_ratio(groups, src, p, pass_, ours, other) for _, p in cols]
                if any(v is not None for v in vals):
                    add(f"| kt {case} / Keras 3 on {src.split('/')[1]} | " + " | ".join(_f(v) for v in vals) + " |")

    add(f"\n### Median ms per call and achieved GFLOP/s at {base.label()}\n")
    add("GFLOP/s counts the layer's matmuls only (input projection + recurrent, 2 FLOPs per multiply-add; "
        "a training step as 3x the forward): the same count for every contender of a layer type, so it "
        "reads as speed. \"of GEMMs only\" is that rate over the rate of the bare GEMMs with the same "
        "shapes (one input projection, then one addmm per step, no gates), timed in the same blocks.\n")
    add("| contender | inference ms | GFLOP/s | of GEMMs only | training ms | GFLOP/s |")
    add("|---|---:|---:|---:|---:|---:|")
    g_inf = _group(groups, "main", base, "inference", "kt LSTM (fused)")
    names = list(g_inf["times"]) if g_inf else []
    for name in names:
        gates = GATES.get(name)
        ms_i = _ms(groups, "main", base, "inference", name)
        ms_t = _ms(groups, "main", base, "training", name)
        gf_i = gemm_flops(base, gates) / ms_i / 1e6 if gates and ms_i else None
        gf_t = gemm_flops(base, gates, True) / ms_t / 1e6 if gates and ms_t else None
        ref = _ms(groups, "main", base, "inference", GEMMS_ONLY[gates]) if gates else None
        eff = ref / ms_i if ref and ms_i else None
        add(f"| {name} | {_f(ms_i)} | {_f(gf_i, '{:.1f}')} | {_f(eff, '{:.0%}')} | {_f(ms_t)} | {_f(gf_t, '{:.1f}')} |")
    for src in _keras_sources(groups):
        for case in KERAS_CASES:
            name = f"Keras 3/{src.split('/')[1]} {case}"
            gates = 3 if "GRU" in case else 4
            ms_i, ms_t = (_ms(groups, src, base, ps, name) for ps in ("inference", "training"))
            gf_i = gemm_flops(base, gates) / ms_i / 1e6 if ms_i else None
            gf_t = gemm_flops(base, gates, True) / ms_t / 1e6 if ms_t else None
            add(f"| {name} (own process) | {_f(ms_i)} | {_f(gf_i, '{:.1f}')} | | {_f(ms_t)} | {_f(gf_t, '{:.1f}')} |")

    if any(_group(groups, "main", p, "inference", "kt LSTM (fused)") for _, p in cols if p != base):
        add("\n### Achieved GFLOP/s across the sweeps, inference (LSTM GEMM count)\n")
        add("| contender | " + " | ".join(c for c, _ in cols) + " |")
        add("|---|" + "---:|" * len(cols))
        for name in [n for n in names if GATES.get(n) == 4]:
            vals = []
            for _, p in cols:
                ms = _ms(groups, "main", p, "inference", name)
                vals.append(gemm_flops(p, 4) / ms / 1e6 if ms else None)
            add(f"| {name} | " + " | ".join(_f(v, "{:.1f}") for v in vals) + " |")

    if profiles:
        add(f"\n### Where the time goes: torch.profiler split at {base.label()}\n")
        add("Per call, in ms (profiled; the profiler's own cost per op lands in \"Python/dispatch\", so that "
            "column is an upper bound, and ops per step shows how dispatch-bound a path is). \"fused kernel\" is "
            "torch's oneDNN RNN kernel, whose GEMMs and gates cannot be told apart by the profiler: the GEMMs-only "
            "row of the table above is their share.\n")
        add("| path | pass | unprofiled ms | profiled ms | GEMM | fused kernel | pointwise + other ATen | "
            "Python/dispatch | ATen ops per step |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for pr in profiles:
            s = pr["split"]
            un = _ms(groups, "main", base, pr["pass"], pr["name"])
            pct = {k: s[k] / s["wall_ms"] for k in ("gemm_ms", "fused_ms", "pointwise_ms", "other_ms")}
            add(f"| {pr['name']} | {pr['pass']} | {_f(un)} | {s['wall_ms']:.2f} | {pct['gemm_ms']:.0%} | "
                f"{pct['fused_ms']:.0%} | {pct['pointwise_ms']:.0%} | {pct['other_ms']:.0%} | "
                f"{s['ops'] / base.T:.1f} |")
    if meta.get("plots"):
        add("\n### Plots\n")
        for png in meta["plots"]:
            add(f"![{png}]({png})")
    return "\n".join(L)


PLOT_MAIN = ["torch.nn.LSTM", "kt LSTM (fused)", "ORT LSTM", "kt LSTM hard_sigmoid (runner)", "ORT LSTM HardSigmoid",
             "kt LSTM mask=holes (fused)", "kt GRU reset_after=False (runner)", "GEMMs only (LSTM)",
             "GEMMs one batched call (LSTM)"]


def _ticks(ax: Any, values: list[int]) -> None:
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()
    ax.grid(True, alpha=0.3)


def plots(groups: list[Group], meta: dict[str, Any], out_dir: Path) -> list[str]:
    """time_vs_T.png (inference and training against T) and gflops.png (against T, B, units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = Point(**meta["base"])
    series: list[tuple[str, str, str]] = [("main", n, n) for n in PLOT_MAIN]
    for src in _keras_sources(groups):
        for case in ("LSTM", "LSTM hard_sigmoid"):
            series.append((src, f"Keras 3/{src.split('/')[1]} {case}", f"Keras 3/{src.split('/')[1]} {case}"))
    written = []
    passes = [ps for ps in ("inference", "training")
              if sum(_ms(groups, "main", Point(base.B, t, base.U), ps, "kt LSTM (fused)") is not None
                     for t in meta["sweeps"]["T"]) > 1]
    fig, axes = plt.subplots(1, len(passes), figsize=(6.5 * len(passes), 5), squeeze=False)
    for ax, pass_ in zip(axes[0], passes):
        for src, name, label in series:
            pts = [(t, _ms(groups, src, Point(base.B, t, base.U), pass_, name)) for t in meta["sweeps"]["T"]]
            pts = [(t, v) for t, v in pts if v is not None]
            if len(pts) > 1:
                ax.plot(*zip(*pts), marker="o", linestyle="--" if src != "main" else "-", label=label)
        ax.set(xscale="log", yscale="log", xlabel="time steps T", ylabel="ms per call",
               title=f"{pass_}, B={base.B}, F=U={base.U}")
        _ticks(ax, meta["sweeps"]["T"])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "time_vs_T.png", dpi=110)
    plt.close(fig)
    written.append("time_vs_T.png")

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, axis in zip(axes, ("T", "B", "U")):
        for name in PLOT_MAIN:
            gates = GATES[name]
            pts = []
            for v in meta["sweeps"][axis]:
                p = Point(**{**base.as_dict(), axis: v})
                ms = _ms(groups, "main", p, "inference", name)
                if ms:
                    pts.append((v, gemm_flops(p, gates) / ms / 1e6))
            if len(pts) > 1:
                ax.plot(*zip(*pts), marker="o", label=name)
        ax.set(xscale="log", xlabel={"T": "time steps T", "B": "batch B", "U": "units U (= features)"}[axis],
               ylabel="GFLOP/s (matmuls only)", title=f"inference, {axis} varied from {base.label()}")
        _ticks(ax, meta["sweeps"][axis])
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "gflops.png", dpi=110)
    plt.close(fig)
    written.append("gflops.png")
    return written
