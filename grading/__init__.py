"""Instructor workflow of the course: ``python -m grading <command>`` (see ``grading/cli.py``).

release -> collect -> autograde (parallel, sandboxed) -> grades -> feedback; ``validate`` for
students. Importing this package is cheap: the commands import nbgrader, pandas... when they run.
"""
__all__ = ["main"]


def main(argv=None) -> int:
    from .cli import main as _main

    return _main(argv)
