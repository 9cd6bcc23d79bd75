"""The evaluation report: `metrics.json` ({variant: {auc, logloss, n, ...}}), `report.json`
(log, config, label rules, recovery), `report.md`, PNG plots and `index.html` tying them
together. JSON is written with sorted keys, so equal runs give equal bytes."""

from __future__ import annotations

import gc
import html
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.metrics import roc_curve

from evaluation.protocol import RANDOM_SPLIT, SplitEvaluator
from evaluation.run import EvalConfig, Evaluation, Evaluator, Log
from evaluation.uniform import uniform_check

PLOTS = ("roc.png", "auc_by_day.png", "calibration.png")


def _num(x: Any, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def variant_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    k = next(iter(metrics.values()))["top_k"]["k"]
    head = ["variant", "AUC", "log-loss", "ECE", f"P@{k}", f"R@{k}", f"hit@{k}"]
    head += ["IPS value", "SNIPS", "n"]
    rows = [
        [
            m["title"],
            _num(m["auc"]),
            _num(m["logloss"]),
            _num(m["ece"]),
            _num(m["top_k"]["precision"]),
            _num(m["top_k"]["recall"]),
            _num(m["top_k"]["hit_rate"]),
            _num(m["ips"]["value"], 5),
            _num(m["ips"]["snips"], 5),
            str(m["n"]),
        ]
        for m in metrics.values()
    ]
    return head, rows


def split_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["variant", "AUC", "log-loss", "ECE", "n", "positives"]
    rows = [
        [m["title"], *(_num(m[name]) for name in ("auc", "logloss", "ece", "n", "positives"))]
        for m in metrics.values()
    ]
    return head, rows


def channel_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    channels = sorted({ch for m in metrics.values() for ch in m["channels"]})
    head = ["variant", *(f"AUC {ch}" for ch in channels)]
    rows = [
        [m["title"], *(_num(m["channels"].get(ch, {}).get("auc")) for ch in channels)]
        for m in metrics.values()
    ]
    return head, rows


def rule_rows(rules: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["rule", "labels", "positives", "autoplay +", "AUC own", "log-loss own"]
    head += ["AUC common", "log-loss common"]
    rows = [
        [
            rule,
            str(r["labels"]),
            str(r["positives"]),
            str(r.get("autoplay_positive", 0)),
            _num(r["own"]["auc"]),
            _num(r["own"]["logloss"]),
            _num(r["common"]["auc"]),
            _num(r["common"]["logloss"]),
        ]
        for rule, r in rules.items()
    ]
    return head, rows


def recovery_rows(recovery: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "min labels", "members", "r (centred)"]
    rows = [
        [name, str(x["min_labels"]), str(x["members"]), _num(x["r"], 3)]
        for name, items in recovery.items()
        for x in items
    ]
    return head, rows


def uniform_rows(checks: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """`evaluation.uniform` checks, one row per name (a campaign, a log)."""
    head = ["uniform log", "truth (its CTR)", "clicks", "IPW", "SNIPW", "IPW error"]
    head += ["SNIPW error", "clipped", "ESS"]
    rows = [
        [
            name,
            _num(c["truth"], 5),
            str(c["truth_clicks"]),
            _num(c["ipw"], 5),
            _num(c["snipw"], 5),
            _percent(c["ipw_rel_error"]),
            _percent(c["snipw_rel_error"]),
            str(c["clipped"]),
            f"{c['ess']:.0f}",
        ]
        for name, c in checks.items()
    ]
    return head, rows


def _percent(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def html_table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def is_random_split(ev: Evaluation) -> bool:
    return ev.report["config"].get("protocol") == RANDOM_SPLIT


def tables(ev: Evaluation) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    if is_random_split(ev):
        return [("Variants on the held-out labels", split_rows(ev.metrics))]
    out: list[tuple[str, tuple[list[str], list[list[str]]]]] = [
        ("Variants on the test days", variant_rows(ev.metrics)),
        ("AUC per channel", channel_rows(ev.metrics)),
        ("Autoplay label rules (full GLMix batch)", rule_rows(ev.report["rules"])),
    ]
    if ev.report.get("recovery"):
        out.append(("Planted member effects recovered", recovery_rows(ev.report["recovery"])))
    if ev.report.get("uniform_check"):
        title = "The uniform policy's value from this log, against the uniform policy's own log"
        out.append((title, uniform_rows(ev.report["uniform_check"])))
    return out


def _plots(ev: Evaluation, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, logits in ev.logits.items():
        fpr, tpr, _ = roc_curve(ev.y, logits)
        ax.plot(fpr, tpr, label=f"{name} ({ev.metrics[name]['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    title = "ROC (held-out labels)" if is_random_split(ev) else "ROC (test days)"
    _save(fig, ax, out / "roc.png", "false positive rate", "true positive rate", title)

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, m in ev.metrics.items():
        pts = [(d["day"], d["auc"]) for d in m["by_day"] if d["auc"] is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", label=name)
    _save(
        fig, ax, out / "auc_by_day.png", "day of the log (impression time)", "AUC", "AUC over time"
    )

    fig, ax = plt.subplots(figsize=(6, 6))
    for name, m in ev.metrics.items():
        table = m["calibration"]
        ax.plot([b["mean_p"] for b in table], [b["rate"] for b in table], marker="o", label=name)
    top = max((b["mean_p"] for m in ev.metrics.values() for b in m["calibration"]), default=1)
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    _save(
        fig,
        ax,
        out / "calibration.png",
        "mean predicted probability",
        "observed rate",
        "Calibration",
    )


def _save(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def caveats(ev: Evaluation) -> list[str]:
    """Sentences on what the figures cannot say."""
    out = []
    for name, c in (ev.report.get("uniform_check") or {}).items():
        out.append(
            f"Against {name}: standard errors are ±{c['truth_se']:.5f} on the truth and "
            f"±{c['ipw_se']:.5f} on IPW, from {c['clicks']} logged clicks; a log this small "
            "cannot rank deterministic policies (such a target keeps only the few logged "
            "rows it agrees with), nor the variants' IPS values above."
        )
    return out


def introduction(ev: Evaluation) -> str:
    """One sentence on the log and the protocol."""
    log, config = ev.report["log"], ev.report["config"]
    trained = (
        f"batch models trained on a random {1 - config['test_fraction']:.0%} of the labels "
        f"(seed {config['seed']}), {log['test_labels']:,} held out"
        if is_random_split(ev)
        else f"batch models trained on days 1-{log['train_days']}, "
        f"{log['test_labels']:,} test labels"
    )
    return (
        f"{log['events']:,} events, {log['members']:,} members, {log['courses']:,} courses, "
        f"{log['days']} days; {trained} ({log['test_positives']:,} positive); "
        f"rule {config['rule']}."
    )


def write_report(ev: Evaluation, out_dir: str | Path) -> Path:
    """Write every report file into `out_dir` (created if missing); returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in (("metrics.json", ev.metrics), ("report.json", ev.report)):
        (out / name).write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
    intro = introduction(ev)
    md = ["# Replay evaluation", "", intro]
    for title, (head, rows) in tables(ev):
        md += ["", f"## {title}", "", markdown(head, rows)]
    md += [line for c in caveats(ev) for line in ("", c)]
    (out / "report.md").write_text("\n".join(md) + "\n")
    _plots(ev, out)
    body = [f"<h1>Replay evaluation</h1><p>{html.escape(intro)}</p>"]
    body += [f"<h2>{html.escape(t)}</h2>{html_table(*rows)}" for t, rows in tables(ev)]
    body += [f"<p>{html.escape(c)}</p>" for c in caveats(ev)]
    body += [f'<h2>{p[:-4].replace("_", " ")}</h2><img src="{p}">' for p in PLOTS]
    body += [
        '<p><a href="metrics.json">metrics.json</a> · <a href="report.json">report.json</a></p>'
    ]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    page = "<!doctype html><meta charset=utf-8><title>Replay evaluation</title>"
    (out / "index.html").write_text(f"{page}<style>{style}</style>{''.join(body)}\n")
    return out


def run_evaluate_cli(
    log_dir: str | Path,
    out_dir: str | Path,
    config: EvalConfig,
    progress: bool = True,
    uniform_log: str | Path | None = None,
) -> dict[str, Any]:
    """`nearline evaluate DIR --out REPORT_DIR`: evaluate, write the report, and return a
    summary (AUC per variant, events/s and seconds per stage, reading and the report
    included). With `uniform_log`, a log the uniform random policy wrote on the same
    items and days, the report checks the off-policy estimators against its click rate."""
    started = time.perf_counter()
    log = Log.read(log_dir)
    gc.freeze()  # the log lives as long as the run: the collector need not walk it again
    try:
        read = time.perf_counter() - started
        evaluator = SplitEvaluator if config.protocol == RANDOM_SPLIT else Evaluator
        ev = evaluator(log, config, progress).run()
    finally:
        gc.unfreeze()
    if uniform_log is not None:
        check = uniform_check(log, Log.read(uniform_log), config.clip)
        ev.report["uniform_check"] = {Path(uniform_log).name: check}
    evaluated = time.perf_counter()
    write_report(ev, out_dir)
    seconds = time.perf_counter() - started
    return {
        "auc": {name: m["auc"] for name, m in ev.metrics.items()},
        "events": ev.report["log"]["events"],
        "seconds": seconds,
        "events_per_s": ev.report["log"]["events"] / seconds,
        "stages": {"reading": read, **ev.timings, "report": seconds - (evaluated - started)},
    }
