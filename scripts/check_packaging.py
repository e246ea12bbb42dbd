"""Build, check and install every package from its wheel, as a user would.

For ``core/``, each ``plugins/*/`` and each ``examples/*/`` with a ``pyproject.toml``:

1. versions: every ``__about__.py`` holds the same ``__version__`` and every plugin requires
   ``stockfish-core>=`` that version (one release train, kept in step); metadata: each
   package has a copy of LICENSE, the project URLs and ``py.typed``;
2. ``python -m build`` (sdist, then the wheel built from that sdist) and ``twine check``;
3. the core wheel ships the ``new-connector`` templates; every wheel its ``py.typed`` and
   LICENSE;
4. a fresh venv gets the wheels (dependencies from the index or pip's wheel cache: quickfix,
   which stockfish-fix needs, compiles from source for minutes unless pip has built it
   before, so the install is bounded by ``--install-timeout``), ``pip check`` passes, and
   ``stockfish-rt plugins --json`` must list exactly the plugins of the installed
   distributions, each loaded without error.

Whichever package directories exist are checked (plugins appear as they are written).
Usage: ``python scripts/check_packaging.py [--outdir DIR] [--versions-only]
[--install-timeout S] [--find-links DIR]``. Exits 1 with every problem listed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r'^__version__\s*=\s*"([^"]+)"\s*$', re.MULTILINE)
_CORE_DEP = re.compile(r"^stockfish-core\s*>=\s*([0-9][^,;\s]*)")


def packages(root: Path = ROOT) -> list[Path]:
    """Every package directory: core first, then plugins and examples."""
    found = [root / "core"]
    for parent in ("plugins", "examples"):
        found += sorted(p for p in (root / parent).glob("*") if (p / "pyproject.toml").is_file())
    return found


def project(pkg: Path) -> dict:
    with (pkg / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def version_of(pkg: Path) -> str:
    rel = project(pkg)["tool"]["hatch"]["version"]["path"]
    match = _VERSION.search((pkg / rel).read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{pkg / rel}: no __version__ = \"...\" line")
    return match.group(1)


def entry_points(pkg: Path) -> dict[str, str]:
    eps = project(pkg)["project"].get("entry-points", {})
    return dict(eps.get("stockfish.connectors", {}))


def check_versions(root: Path = ROOT) -> list[str]:
    """Problems with the shared version (empty when all is in step)."""
    problems: list[str] = []
    pkgs = packages(root)
    core_version = version_of(pkgs[0])
    for pkg in pkgs:
        meta = project(pkg)["project"]
        name = meta["name"]
        if "version" not in meta.get("dynamic", []):
            problems.append(f"{name}: version must be dynamic (read from __about__.py)")
        version = version_of(pkg)
        if version != core_version:
            problems.append(f"{name}: version {version} differs from stockfish-core "
                            f"{core_version}")
        if not meta.get("requires-python", "").startswith(">=3.10"):
            problems.append(f"{name}: requires-python should be '>=3.10'")
        if pkg.name == "core":
            continue
        deps = [d for d in meta.get("dependencies", []) if d.startswith("stockfish-core")]
        bound = _CORE_DEP.match(deps[0]) if deps else None
        if bound is None:
            problems.append(f"{name}: must depend on 'stockfish-core>={core_version}'")
        elif bound.group(1) != core_version:
            problems.append(f"{name}: requires stockfish-core>={bound.group(1)}, the release "
                            f"is {core_version}")
        if not entry_points(pkg):
            problems.append(f"{name}: no [project.entry-points.\"stockfish.connectors\"]")
    return problems


URL_KEYS = ("Homepage", "Documentation", "Source", "Changelog", "Issues")


def check_metadata(root: Path = ROOT) -> list[str]:
    """Every package has the repository's LICENSE, the same project URLs and ``py.typed``."""
    problems: list[str] = []
    license_text = (root / "LICENSE").read_text(encoding="utf-8") \
        if (root / "LICENSE").is_file() else None
    if license_text is None:
        problems.append("no LICENSE at the top of the repository")
    homepages = set()
    for pkg in packages(root):
        meta = project(pkg)["project"]
        name = meta["name"]
        own = pkg / "LICENSE"
        if not own.is_file() or own.read_text(encoding="utf-8") != license_text:
            problems.append(f"{name}: {own.relative_to(root)} must be a copy of LICENSE")
        urls = meta.get("urls", {})
        missing = [key for key in URL_KEYS if key not in urls]
        if missing:
            problems.append(f"{name}: [project.urls] lacks {', '.join(missing)}")
        homepages.add(urls.get("Homepage"))
        import_name = name.replace("-", "_")
        if not (pkg / "src" / import_name / "py.typed").is_file():
            problems.append(f"{name}: src/{import_name}/py.typed is missing")
    if len(homepages) > 1:
        problems.append(f"the packages name different homepages: {sorted(map(str, homepages))}")
    return problems


def check_wheels(dist: Path) -> list[str]:
    """Each wheel carries its ``py.typed`` and the license text."""
    problems = []
    for wheel in sorted(dist.glob("*.whl")):
        names = zipfile.ZipFile(wheel).namelist()
        package = wheel.name.split("-")[0]
        if f"{package}/py.typed" not in names:
            problems.append(f"{wheel.name}: no {package}/py.typed")
        if not any(n.endswith("/LICENSE") and ".dist-info/" in n for n in names):
            problems.append(f"{wheel.name}: no LICENSE in its .dist-info")
    return problems


def run(cmd: list[str], timeout: float = 600.0,
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` bounded by ``timeout``; a timeout is a failed run (returncode -1)."""
    print("+", " ".join(cmd), flush=True)
    try:
        return subprocess.run(cmd, text=True, capture_output=True, check=False,  # type: ignore[call-overload]
                              timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(cmd, -1, _text(exc.stdout),
                                           f"{_text(exc.stderr)}\ntimed out after {timeout:g} s")


def _text(data: bytes | str | None) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def build_all(pkgs: list[Path], dist: Path) -> list[str]:
    problems = []
    for pkg in pkgs:
        out = run([sys.executable, "-m", "build", "--outdir", str(dist), str(pkg)], timeout=300)
        if out.returncode != 0:
            problems.append(f"{pkg.name}: build failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    files = sorted(str(p) for p in dist.iterdir())
    out = run([sys.executable, "-m", "twine", "check", "--strict", *files])
    if out.returncode != 0:
        problems.append(f"twine check failed:\n{out.stdout}{out.stderr}")
    return problems


def check_core_wheel(dist: Path) -> list[str]:
    wheels = list(dist.glob("stockfish_core-*.whl"))
    if not wheels:
        return ["no stockfish-core wheel was built"]
    names = zipfile.ZipFile(wheels[0]).namelist()
    templates = [n for n in names if n.startswith("stockfish_core/templates/connector/")]
    needed = {"pyproject.toml.tmpl", "connector.py.tmpl", "test___name__.py.tmpl"}
    missing = needed - {n.rsplit("/", 1)[-1] for n in templates}
    return [f"core wheel lacks templates: {sorted(missing)}"] if missing else []


def install_and_list(pkgs: list[Path], dist: Path, where: Path, *,
                     install_timeout: float = 900.0,
                     find_links: list[str] | None = None) -> list[str]:
    env_dir = where / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    wheels = sorted(str(p) for p in dist.glob("*.whl"))
    links = [arg for d in find_links or () for arg in ("--find-links", d)]
    out = run([str(python), "-m", "pip", "install", "--quiet", *links, *wheels],
              timeout=install_timeout)
    if out.returncode != 0:
        return [f"installing the wheels failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"]
    out = run([str(python), "-m", "pip", "check"], timeout=120)
    if out.returncode != 0:
        return [f"pip check: the installed dependencies are inconsistent:\n{out.stdout}"]
    env = {k: v for k, v in os.environ.items() if k != "STOCKFISH_PLUGINS"}
    out = run([str(bindir / "stockfish-rt"), "plugins", "--json"], timeout=120, env=env,
              cwd=str(where))
    if out.returncode != 0:
        return [f"stockfish-rt plugins failed:\n{out.stderr}"]
    listed = json.loads(out.stdout)["plugins"]
    problems = [f"plugin {p['name']} ({p['dist']}) failed to load: {p['error']}"
                for p in listed if p["error"]]
    expected = {(ep, project(pkg)["project"]["name"])
                for pkg in pkgs for ep in entry_points(pkg)}
    got = {(p["name"], (p["dist"] or "").replace("_", "-").lower()) for p in listed}
    if got != expected:
        problems.append(f"stockfish-rt plugins lists {sorted(got)}, installed "
                        f"{sorted(expected)}")
    print(f"installed {len(wheels)} wheels; plugins listed: "
          f"{', '.join(sorted(n for n, _ in got))}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", help="keep the builds and the venv here (default: a "
                                         "temporary directory)")
    parser.add_argument("--versions-only", action="store_true",
                        help="only check that the versions are in step")
    parser.add_argument("--install-timeout", type=float, default=900.0,
                        help="seconds the wheel install may take (quickfix may compile)")
    parser.add_argument("--find-links", action="append", default=[],
                        help="extra directory of wheels for pip (e.g. a prebuilt quickfix)")
    args = parser.parse_args(argv)
    problems = check_versions() + check_metadata()
    pkgs = packages()
    print(f"packages: {', '.join(project(p)['project']['name'] for p in pkgs)} "
          f"(version {version_of(pkgs[0])})")
    if not args.versions_only and not problems:
        with tempfile.TemporaryDirectory(prefix="stockfish-packaging-") as tmp:
            where = Path(args.outdir).resolve() if args.outdir else Path(tmp)
            dist = where / "dist"
            dist.mkdir(parents=True, exist_ok=True)
            for old in dist.iterdir():
                old.unlink()
            problems += build_all(pkgs, dist)
            problems += check_core_wheel(dist)
            problems += check_wheels(dist)
            if not problems:
                problems += install_and_list(pkgs, dist, where,
                                             install_timeout=args.install_timeout,
                                             find_links=args.find_links)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("packaging: OK" if not problems else f"packaging: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
