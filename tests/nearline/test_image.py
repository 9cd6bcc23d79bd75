"""The Docker image's files, without Docker: the wheel built from exactly what the
Dockerfile copies (less .dockerignore) installs and runs `nearline --help`."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copied_by_the_dockerfile(root: Path) -> list[Path]:
    """Files the Dockerfile's `COPY . .` puts in the image: the project less the
    .dockerignore patterns (matched on a path or any folder above it)."""
    instructions = [ln for ln in (root / "Dockerfile").read_text().splitlines() if ln.strip()]
    assert [ln for ln in instructions if ln.startswith("COPY")] == ["COPY . ."]
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(relative: Path) -> bool:
        parts = relative.parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            or fnmatch.fnmatch(part, pattern.removeprefix("**/"))
            for pattern in patterns
            for prefix, part in zip(prefixes, parts, strict=True)
        )

    return sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and not ignored(p.relative_to(root))
    )


def test_the_dockerignore_keeps_the_packages_and_leaves_out_local_state():
    files = {str(p) for p in copied_by_the_dockerfile(ROOT)}
    assert {"pyproject.toml", "README.md", "evaluation/__init__.py", "streams/reader.py"} <= files
    assert not any(f.startswith((".venv/", ".git/", "var/", "tests/")) for f in files)
    assert not any("__pycache__" in f for f in files)


def test_the_image_file_set_builds_a_wheel_that_installs_and_runs(tmp_path):
    context = tmp_path / "context"
    for relative in copied_by_the_dockerfile(ROOT):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("nearline-*.whl")
    packages = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {"nearline", "schemas", "streams", "models", "scoring", "replay", "labels"} <= packages
    assert "evaluation" in packages

    # A fresh environment with the wheel alone; the dependencies are this environment's
    # (on PYTHONPATH, where no .pth runs, so the editable install of the checkout stays out).
    env_dir = tmp_path / "venv"
    venv.create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    installed = subprocess.run(
        [*pip, "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    deps = {"PYTHONPATH": sysconfig.get_paths()["purelib"], "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=tmp_path, env=deps, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    usage = run(str(env_dir / "bin" / "nearline"), "--help")
    assert "serve" in usage and "demo" in usage
    imports = "import streams.reader_http, evaluation.run, nearline.demo"
    where = run(str(python), "-c", f"{imports}; print(streams.reader_http.__file__)")
    assert where.startswith(str(env_dir))
