"""Public data through the evaluator: MovieLens-100k (random 80/20 split as in GDMix's
example, and the progressive time-ordered protocol) and the Open Bandit Dataset sample,
whose report checks the uniform policy's value estimated from each `bts` log against
the `random` log's click rate. Prints the tables and ends with one JSON line.

    PYTHONPATH=. .venv/bin/python -P benchmarks/real_data.py [--seed S] [--work DIR]

The wheels are fetched into the cache on the first run (see `replay.wheel`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from evaluation.report import markdown, run_evaluate_cli, uniform_rows
from evaluation.run import EvalConfig
from evaluation.uniform import RULE
from evaluation.variants import select
from nearline.runtime import single_threaded_blas
from replay.movielens import import_movielens
from replay.obd import CAMPAIGNS, import_obd

# GDMix README, "Try out the movieLens example": global, + per-user, + per-movie; its
# global model reads the user's age, gender and occupation and the movie's genres and
# release year, as the side ladder does (no label history).
GDMIX = {"side-lr": 0.6237, "side+member": 0.7058, "side+member+course": 0.7599}
COMPARED = (
    "popularity,side-lr,side+member,side+member+course,"
    "lr,course-only,member-only,full-batch,full-incremental"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="which labels the split holds out")
    parser.add_argument("--work", type=Path, help="folder for the logs and reports")
    args = parser.parse_args()
    single_threaded_blas()  # as `nearline evaluate` runs
    work = args.work or Path(tempfile.mkdtemp(prefix="real-data-"))
    ml = work / "ml-100k"
    import_movielens(ml, progress=False)
    config = EvalConfig(rules=(RULE,), variants=select(COMPARED), jobs=1)
    random_split = replace(config, protocol="random-split", seed=args.seed)
    split = run_evaluate_cli(ml, work / "ml-split", random_split, progress=False)["auc"]
    timed = run_evaluate_cli(ml, work / "ml-time", config, progress=False)
    head = ["variant", "model", "random 80/20", "GDMix (published)", "time-ordered"]
    rows = [
        [v.name, v.title, _f(split.get(v.name)), _f(GDMIX.get(v.name)), _f(timed["auc"][v.name])]
        for v in select(COMPARED)
    ]
    print(f"MovieLens-100k, label rating > 3, AUC (split seed {args.seed})\n")
    print(markdown(head, rows))
    lift = {name: split["full-batch"] - split[name] for name in ("side-lr", "lr")}
    published = GDMIX["side+member+course"] - GDMIX["side-lr"]
    print(
        f"\nlift to full GLMix: from the side LR {lift['side-lr']:+.4f}, from the LR with "
        f"history features {lift['lr']:+.4f} (GDMix: {published:+.4f})"
    )

    checks = {}
    for campaign in CAMPAIGNS:
        logs = {}
        for policy in ("bts", "random"):
            logs[policy] = work / f"obd-{policy}-{campaign}"
            import_obd(logs[policy], policy, campaign, progress=False)
        report = work / f"obd-report-{campaign}"
        run_evaluate_cli(logs["bts"], report, config, progress=False, uniform_log=logs["random"])
        check = json.loads((report / "report.json").read_text())["uniform_check"]
        checks[f"random/{campaign}"] = check[logs["random"].name]
    print("\nOBD: the uniform policy's value from each bts log (clip 50)\n")
    print(markdown(*uniform_rows(checks)))
    result = {
        "ml100k_auc_lr": split["side-lr"],
        "ml100k_auc_member": split["side+member"],
        "ml100k_auc_side_full": split["side+member+course"],
        "ml100k_auc_full": split["full-batch"],
        "ml100k_auc_lr_history": split["lr"],
        "ml100k_time_auc_full": timed["auc"]["full-batch"],
        "obd_snipw_rel_error_all": checks["random/all"]["snipw_rel_error"],
        "obd_ipw_rel_error_all": checks["random/all"]["ipw_rel_error"],
        "events_per_s": timed["events_per_s"],
    }
    print(json.dumps(result, sort_keys=False))


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    main()
