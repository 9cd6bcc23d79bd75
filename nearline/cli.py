"""`nearline`: one command for the broker, the simulator, replay and the worker.

A user's mistake ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from nearline.broker import DEFAULT_PORT, BrokerError, LocalBroker, cache_dir, ephemeral_ports
from nearline.config import Settings
from nearline.runtime import (
    collect_rarely,
    exit_on_sigterm,
    reuse_freed_memory,
    single_threaded_blas,
)
from nearline.snapshot import SnapshotError
from replay.publish import DELIVERY_TIMEOUT_S
from replay.wheel import WheelError

if TYPE_CHECKING:
    from models.trainer import Refitter

EXIT_USER_ERROR = 2
EXIT_UNDELIVERED = 3  # replay: some records were not acknowledged by the broker


class UserError(Exception):
    """Raised for mistakes a user can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def cmd_kafka(args: argparse.Namespace) -> None:
    broker = LocalBroker(args.dir or cache_dir() / f"broker-{args.port}", port=args.port)
    if args.action == "start":
        if args.port in (ports := ephemeral_ports()):
            print(
                f"nearline kafka: warning: port {args.port} is in the ephemeral range "
                f"{ports.start}-{ports.stop - 1}; a restart may not bind for minutes",
                file=sys.stderr,
            )
        print(broker.start(fresh=args.fresh))
    elif args.action == "stop":
        print("stopped" if broker.stop() else "not running")
    else:
        pid = broker.pid()
        print(f"running (pid {pid}) at {broker.bootstrap}" if pid else "stopped")
        if pid is None:
            sys.exit(1)


def cmd_simulate(args: argparse.Namespace) -> None:
    from replay.simulate import WorldConfig, simulate

    config = WorldConfig(members=args.members, courses=args.courses, days=args.days, seed=args.seed)
    counts = simulate(config, args.out, progress=not args.quiet)
    print(" ".join(f"{kind}={n}" for kind, n in counts.items()), f"-> {args.out}")


def cmd_replay(args: argparse.Namespace) -> None:
    from replay.publish import Undelivered, publish_log

    settings = _settings(args)
    try:
        counts = publish_log(
            args.dir,
            settings,
            speed=args.speed,
            max_rate=args.max_rate,
            progress=not args.quiet,
            delivery_timeout_s=args.delivery_timeout,
        )
    except Undelivered as e:
        print("delivered: " + " ".join(f"{topic}={n}" for topic, n in e.delivered.items()))
        print(f"nearline replay: error: {e}", file=sys.stderr)
        sys.exit(EXIT_UNDELIVERED)
    print(" ".join(f"{topic}={n}" for topic, n in counts.items()))


def cmd_labels(args: argparse.Namespace) -> None:
    from labels.offline import run_labels_cli

    counts = run_labels_cli(
        args.dir,
        args.rule,
        args.out,
        progress=not args.quiet,
        close_open=args.close_open,
        window_ms=int(args.window_h * 3_600_000),
        lateness_ms=int(args.lateness_s * 1000),
        min_views=args.min_views,
    )
    print(" ".join(f"{name}={n}" for name, n in counts.items()), f"-> {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from models.train import run_train_cli

    if args.labels is None:
        from nearline.trainer import refit_from_topics, summary

        print(summary(refit_from_topics(_settings(args), _refitter(args), not args.quiet)))
        return
    if args.bootstrap or args.days:
        raise UserError("give a labels file or --bootstrap (with --days), not both")
    if args.log is None:
        raise UserError("training from a labels file needs --log (the log with the catalog)")
    if not args.labels.is_file():
        raise UserError(f"no such labels file: {args.labels}")
    from replay.logs import read_members
    from scoring.cohort_skills import as_scored

    window_ms = int(args.window_h * 3_600_000)
    members = as_scored(read_members(args.log), _settings(args).cohort_skill_table())
    summary = run_train_cli(
        args.labels,
        args.log,
        args.out,
        progress=not args.quiet,
        window_ms=window_ms,
        members=members,
    )
    print(" ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, dict | list)))


def cmd_import(args: argparse.Namespace) -> None:
    from replay.movielens import import_movielens
    from replay.obd import import_obd

    progress = not args.quiet
    if args.dataset == "movielens":
        counts = import_movielens(args.out, progress=progress)
    else:
        counts = import_obd(args.out, args.policy, args.campaign, progress=progress)
    print(" ".join(f"{kind}={n}" for kind, n in counts.items()), f"-> {args.out}")


def cmd_trainer(args: argparse.Namespace) -> None:
    from nearline.trainer import run_trainer

    run_trainer(_settings(args), _refitter(args), args.every)


def _refitter(args: argparse.Namespace) -> Refitter:
    from models.trainer import ModelFolder, Refitter

    return Refitter(
        ModelFolder(args.out if args.command == "train" else args.model_dir),
        window_ms=int(args.window_h * 3_600_000),
        days=args.days,
        keep=getattr(args, "keep", None),
        max_auc_drop=getattr(args, "max_auc_drop", None),
        progress=not args.quiet,
    )


def _duration(text: str) -> float:
    from models.trainer import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_evaluate(args: argparse.Namespace) -> None:
    from evaluation.protocol import PROTOCOLS
    from evaluation.report import run_evaluate_cli
    from evaluation.run import PAPER_RULES, EvalConfig
    from evaluation.variants import select
    from labels.rules import Rule

    config = EvalConfig(
        rules=tuple(args.rule) if args.rule else PAPER_RULES,
        variants=select(args.variants),
        train_days=args.train_days,
        k=args.k,
        jobs=args.jobs,
        protocol=args.protocol,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    if args.protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {args.protocol!r}: choose from {', '.join(PROTOCOLS)}")
    for rule in config.rules:
        Rule.parse(rule)  # a bad rule fails before the log is read
    summary = run_evaluate_cli(
        args.dir, args.out, config, progress=not args.quiet, uniform_log=args.uniform_log
    )
    print(" ".join(f"{name}={auc:.4f}" for name, auc in summary["auc"].items() if auc))
    print(
        f"{summary['events']} events in {summary['seconds']:.1f} s "
        f"({summary['events_per_s']:,.0f} events/s) -> {args.out}"
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from nearline.worker import run_worker
    from streams.http import PortInUse

    try:
        run_worker(_settings(args), loglevel=args.loglevel)
    except PortInUse as e:
        raise UserError(str(e)) from None


def cmd_serve(args: argparse.Namespace) -> None:
    import logging

    from streams.http import PortInUse
    from streams.reader import TableInUse
    from streams.reader_http import run_reader

    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        run_reader(_settings(args))
    except (TableInUse, PortInUse) as e:
        raise UserError(str(e)) from None


def cmd_demo(args: argparse.Namespace) -> None:
    from nearline.demo import run_demo
    from nearline.supervise import WorkerExited

    try:
        run_demo(args)
    except WorkerExited as e:  # its log holds the rest
        raise UserError(str(e)) from None


def _settings(args: argparse.Namespace) -> Settings:
    """Flags win over the environment; the worker module reads the environment."""
    overrides = {
        "KAFKA_BOOTSTRAP_SERVERS": getattr(args, "bootstrap", None),
        "NEARLINE_TOPIC_PREFIX": getattr(args, "topic_prefix", None),
        "NEARLINE_APP_ID": getattr(args, "app_id", None),
        "NEARLINE_WEB_PORT": getattr(args, "web_port", None),
        "NEARLINE_DATA_DIR": getattr(args, "data_dir", None),
        "NEARLINE_MODEL_DIR": getattr(args, "model", None),
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    try:
        return Settings.from_env()
    except ValueError as e:
        raise UserError(f"bad setting: {e}") from None


def _kafka_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", help="host:port of Kafka (default $KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--topic-prefix", help="prefix of every topic name")


def _refit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=_positive_int, help="learn only the newest N days (topics)")
    p.add_argument(
        "--window-h", type=_positive_float, default=24.0, help="the labels' attribution window"
    )


def _world_flags(
    p: argparse.ArgumentParser, *, members: int, courses: int, days: int, seed: int
) -> None:
    p.add_argument("--members", type=_positive_int, default=members)
    p.add_argument("--courses", type=_positive_int, default=courses)
    p.add_argument("--days", type=_positive_int, default=days)
    p.add_argument("--seed", type=int, default=seed)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nearline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="start, stop or query a local single-node Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=_positive_int, default=DEFAULT_PORT)
    p.add_argument("--dir", type=Path, help="broker state folder (default: in the cache)")
    p.add_argument("--fresh", action="store_true", help="wipe the broker's data first")
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("simulate", help="write a synthetic world with planted structure")
    _world_flags(p, members=2000, courses=300, days=14, seed=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("replay", help="publish a log to the contract topics in event order")
    p.add_argument("dir", type=_existing_dir)
    _kafka_flags(p)
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=_positive_float, help="event-time speed-up factor")
    pace.add_argument("--max-rate", type=_positive_float, help="events per second at most")
    p.add_argument(
        "--delivery-timeout",
        type=_positive_float,
        default=DELIVERY_TIMEOUT_S,
        help="seconds a record may wait for the broker's acknowledgement, retries included",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("labels", help="label a log offline with the worker's labeller")
    p.add_argument("dir", type=_existing_dir)
    p.add_argument("--rule", default="percentile:95:member", help="autoplay rule")
    p.add_argument("--out", type=Path, required=True, help="labels JSONL to write")
    p.add_argument("--window-h", type=_positive_float, default=24.0, help="attribution window")
    p.add_argument("--lateness-s", type=float, default=3600.0, help="allowed lateness")
    p.add_argument("--min-views", type=_positive_int, default=20, help="before falling back")
    p.add_argument("--close-open", action="store_true", help="close open windows at the end")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("train", help="batch-train a GLMix from a labels file or the topics")
    p.add_argument("labels", type=Path, nargs="?", help="labels JSONL (default: the topics)")
    p.add_argument("--log", type=_existing_dir, help="log with the catalog (labels file)")
    p.add_argument("--out", type=Path, required=True, help="artifact (file) or model folder")
    _kafka_flags(p)
    _refit_flags(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("trainer", help="refit from the topics on a schedule, gated by AUC")
    _kafka_flags(p)
    p.add_argument("--model-dir", type=Path, required=True, help="folder of model versions")
    p.add_argument("--every", type=_duration, default=86400.0, help="e.g. 24h, 30m, 2s")
    p.add_argument("--keep", type=_positive_int, default=5, help="versions to keep")
    p.add_argument("--max-auc-drop", type=float, default=0.02, help="refuse a model worse by more")
    _refit_flags(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_trainer)

    p = sub.add_parser("evaluate", help="replay a log offline through the worker's core")
    p.add_argument("dir", type=_existing_dir)
    p.add_argument("--out", type=Path, required=True, help="report directory to write")
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    p.add_argument(
        "--rule",
        action="append",
        help="autoplay rule, repeatable; the first labels the "
        "main comparison (default: the paper's fixed, fraction and percentile rules)",
    )
    p.add_argument("--train-days", type=_positive_int, help="batch-train on days 1..k")
    p.add_argument("--k", type=_positive_int, default=10, help="length of top-k lists")
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="processes for the other rules' comparisons (default: one per core)",
    )
    p.add_argument(
        "--protocol",
        default="progressive",
        help="progressive: train on the first days, score later ones (default); "
        "random-split: hold out a random share of the labels",
    )
    p.add_argument(
        "--test-fraction", type=_fraction, default=0.2, help="random split: share held out"
    )
    p.add_argument("--seed", type=int, default=0, help="random split: which labels")
    p.add_argument(
        "--uniform-log",
        type=_existing_dir,
        help="a log of the uniform random policy on the same items and days: the report "
        "checks the off-policy estimates of its value against its click rate",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("import", help="write a public data set in the log format")
    p.add_argument("dataset", choices=["movielens", "obd"], help="MovieLens-100k or OBD")
    p.add_argument("out", type=Path, help="log directory to write")
    p.add_argument("--policy", default="bts", help="OBD logging policy: bts or random")
    p.add_argument("--campaign", default="all", help="OBD campaign: all, men or women")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("worker", help="run a near-line worker (Quix Streams)")
    _kafka_flags(p)
    p.add_argument("--app-id")
    p.add_argument("--web-port", type=_positive_int)
    p.add_argument("--data-dir", type=Path)
    p.add_argument(
        "--model",
        type=Path,
        help="GLMix artifact, or a folder of versions (none yet, or no flag: the prior model)",
    )
    p.add_argument("--loglevel", default="warning")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("serve", help="follow the recommendations topic and serve it over HTTP")
    _kafka_flags(p)
    p.add_argument("--port", dest="web_port", type=_positive_int, help="HTTP port (default 6066)")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="state folder; the table goes in its reader/ (default $NEARLINE_DATA_DIR)",
    )
    p.add_argument("--app-id", help="name reported on /health")
    p.add_argument("--loglevel", default="warning")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="broker, simulated world, worker, replay: end to end")
    _world_flags(p, members=500, courses=200, days=7, seed=7)
    p.add_argument("--workdir", type=Path, default=Path("var") / "demo")
    p.add_argument("--exit", action="store_true", help="stop after the summary (no serving)")
    p.set_defaults(func=cmd_demo)
    return parser


USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    BrokerError,
    WheelError,
    SnapshotError,
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    TimeoutError,  # waiting for a condition (a broker, a worker) past its deadline
)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    single_threaded_blas()
    reuse_freed_memory()
    collect_rarely()
    exit_on_sigterm()
    handler: Callable[[argparse.Namespace], None] = args.func
    try:
        handler(args)
    except (KafkaConnectionError, KafkaTimeoutError) as e:
        print(f"nearline {args.command}: error: cannot reach Kafka ({e})", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except USER_ERRORS as e:
        if os.environ.get("NEARLINE_DEBUG"):
            raise
        print(f"nearline {args.command}: error: {e}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)
