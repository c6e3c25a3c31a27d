"""The two install routes (pip via pyproject.toml, conda via environment.yml) give the same set."""
import re
import tomllib

import yaml


def test_environment_yml_pins_the_same_packages_as_pyproject(repo_root):
    pip_deps = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pip = [d for d in conda_pip if not d.startswith("-e")]
    assert sorted(conda_pip) == sorted(pip_deps), (
        "environment.yml's pip section and pyproject.toml's dependencies differ: "
        f"only in environment.yml {sorted(set(conda_pip) - set(pip_deps))}, "
        f"only in pyproject.toml {sorted(set(pip_deps) - set(conda_pip))}")


def test_every_dependency_is_pinned_and_torch_is_2_13_0(repo_root):
    deps = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    unpinned = [d for d in deps if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", d)]
    assert not unpinned, f"pin every dependency exactly (==): {unpinned}"
    assert "torch==2.13.0" in deps, "torch must stay pinned to 2.13.0 (other versions pull a multi-GB CUDA build)"
