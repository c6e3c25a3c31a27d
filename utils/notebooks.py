"""Code that travels from one notebook to the next: the definitions of an earlier notebook, loaded.

Notebook 03 builds a Transformer layer from the ``MultiHeadAttention`` you wrote in notebook 01 and
the ``PositionalEncoding`` of notebook 02; notebook 04 translates with the Transformer of 03. None
of that code is copied: a later notebook *loads* it from the earlier notebook file::

    from utils.notebooks import from_notebook
    MultiHeadAttention = from_notebook("01-attention", "MultiHeadAttention")

What is loaded
--------------
From every code cell of the earlier notebook its top-level ``import`` statements, and from its
answer cells (the TODOs) and read-only definition cells (nbgrader cells that are not tests) the
top-level ``def`` and ``class`` statements and the names it took from still earlier notebooks
(``X = from_notebook(...)``). Nothing else runs: no training, no plots, no tests. The definitions
live in a module of their own (``notebook_01_attention``), so names in the later notebook cannot
clash with them, and tracebacks point at the lines of the earlier notebook.

Which file
----------
1. ``folder=...`` when given: a folder with ``<assignment>/<notebook>.ipynb`` (like ``course/``);
   the earlier notebooks that notebook loads in turn come from the same folder;
2. else the environment variable ``COURSE_NOTEBOOKS`` (same layout). The grader sets it to the
   instructor's reference of the earlier notebooks, so a wrong answer in notebook 01 costs points
   in notebook 01 only, never in a later one;
3. else the folder next to the running notebook's (the kernel runs in the notebook's folder): in
   ``course/`` that is your own notebook 01 -- save it after you change it.

An earlier notebook whose TODOs are not written yet raises :class:`NotebookNotReady`, which says
which TODO to finish first.
"""
from __future__ import annotations

import ast
import json
import linecache
import os
import re
import sys
import types
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

NOTEBOOKS_ENV = "COURSE_NOTEBOOKS"
LOADER_NAMES = ("from_notebook", "load_notebook")

# What nbgrader puts in place of an answer in the student release.
_UNWRITTEN = re.compile(r"#\s*YOUR CODE HERE\s*\n\s*raise NotImplementedError\(\)")

PathLike = Union[str, Path]


class NotebookNotReady(ImportError):
    """An earlier notebook cannot be loaded yet: missing, or a TODO not written."""


# ----------------------------------------------------------------------------------------------
# Finding and reading the notebook


def notebook_path(assignment: str, folder: Optional[PathLike] = None) -> Path:
    """The ``.ipynb`` file of ``assignment`` (e.g. ``"01-attention"``); see the module's docstring."""
    if folder is None and _LOADING:
        folder = _LOADING[-1]
    if folder is not None:
        where, how = Path(folder), "the folder passed in"
    elif os.environ.get(NOTEBOOKS_ENV):
        where, how = Path(os.environ[NOTEBOOKS_ENV]), f"{NOTEBOOKS_ENV}={os.environ[NOTEBOOKS_ENV]}"
    else:
        where, how = Path.cwd().parent, "the folder next to this notebook's"
    directory = where.expanduser() / assignment
    candidates = [directory / f"{assignment}.ipynb"] + sorted(directory.glob("*.ipynb"))
    for candidate in candidates:
        if candidate.is_file() and ".ipynb_checkpoints" not in candidate.parts:
            return candidate.resolve()
    raise NotebookNotReady(
        f"notebook {assignment} not found: looked for {directory}/{assignment}.ipynb ({how}). "
        f"Keep the course's folders side by side (course/{assignment}/ next to this notebook's folder), "
        f"or point {NOTEBOOKS_ENV} at the folder that holds {assignment}/.")


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_answer(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution"))


def _is_definition_cell(cell: dict) -> bool:
    """An answer cell, or a read-only cell that is no test (``setup``, ``mha_output``...)."""
    meta = _nbgrader(cell)
    if meta.get("solution"):
        return True
    return bool(meta.get("locked")) and not meta.get("grade") and not str(meta.get("grade_id", "")).startswith("test")


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _is_loader_call(node: ast.stmt) -> bool:
    """``X = from_notebook(...)`` / ``A, B = utils.notebooks.from_notebook(...)``."""
    if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
        return False
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in LOADER_NAMES


def _defined_names(node: ast.stmt) -> List[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    return []


def _todo_titles(cells: List[dict]) -> Dict[int, str]:
    """``{cell index: "TODO k"}`` for the answer cells, numbered in notebook order."""
    titles, k = {}, 0
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and _is_answer(cell):
            k += 1
            titles[index] = f"TODO {k}"
    return titles


def _select(cells: List[dict], path: Path, assignment: str) -> Tuple[List[Tuple[int, ast.stmt]], Dict[str, str]]:
    """The statements to run, and ``{name: "TODO k"}`` for the names the answer cells define."""
    todos = _todo_titles(cells)
    parts: List[Tuple[int, ast.stmt]] = []
    names_of_todo: Dict[str, str] = {}
    unwritten: List[str] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        definitions = _is_definition_cell(cell)
        try:
            tree = ast.parse(_without_magics(source), filename=str(path))
        except SyntaxError as error:
            if definitions:
                what = todos.get(index, f"cell {_nbgrader(cell).get('grade_id', index)}")
                raise NotebookNotReady(
                    f"{assignment}: {what} does not parse ({error.msg}, line {error.lineno} of the cell). "
                    f"Fix it in {path} and save the notebook.") from error
            continue
        if index in todos and _UNWRITTEN.search(source):
            unwritten.append(f"{todos[index]} ({_nbgrader(cell).get('grade_id', '')})")
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                parts.append((index, node))
            elif definitions and (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                                  or _is_loader_call(node)):
                parts.append((index, node))
                if index in todos:
                    for name in _defined_names(node):
                        names_of_todo[name] = todos[index]
    if unwritten:
        raise NotebookNotReady(
            f"finish {' and '.join(unwritten)} of {assignment} first: this notebook uses your code from it. "
            f"Write it in {path}, run its tests, save the notebook, then run this cell again.")
    return parts, names_of_todo


def _without_magics(source: str) -> str:
    """IPython magics and shell escapes (``%time``, ``!ls``) as comments, so that ``ast`` parses."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


# ----------------------------------------------------------------------------------------------
# Loading

_CACHE: Dict[Path, Tuple[float, types.ModuleType]] = {}
_LOADING: List[Path] = []  # the folders of the notebooks being loaded (nested loads come from there)


def module_name(assignment: str) -> str:
    return "notebook_" + re.sub(r"\W", "_", assignment)


def load_notebook(assignment: str, folder: Optional[PathLike] = None) -> types.ModuleType:
    """The definitions of ``assignment``'s notebook as a module (cached until the file changes)."""
    path = notebook_path(assignment, folder)
    mtime = path.stat().st_mtime
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NotebookNotReady(f"{path} is not a readable notebook: {error}") from error
    parts, names_of_todo = _select(cells, path, assignment)

    module = types.ModuleType(module_name(assignment), f"Definitions of the notebook {path}")
    module.__notebook__ = str(path)
    module.__notebook_todos__ = names_of_todo
    # All code cells, one after the other, are the "file" of the module: inspect.getsource and
    # tracebacks show the earlier notebook's lines.
    module.__file__ = f"<{path.parent.name}/{path.name}>"
    offsets, lines = {}, []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            offsets[index] = len(lines)
            lines += [line if line.endswith("\n") else line + "\n" for line in _source(cell).splitlines()]
    linecache.cache[module.__file__] = (sum(map(len, lines)), None, lines, module.__file__)
    sys.modules[module.__name__] = module  # classes defined there pickle and inspect normally
    _LOADING.append(path.parent.parent)
    try:
        _run(parts, offsets, module, assignment)
    finally:
        _LOADING.pop()
    _CACHE[path] = (mtime, module)
    return module


def _run(parts, offsets: Dict[int, int], module: types.ModuleType, assignment: str) -> None:
    for index, node in parts:
        ast.increment_lineno(node, offsets[index])
        code = compile(ast.Module(body=[node], type_ignores=[]), module.__file__, "exec")
        try:
            exec(code, module.__dict__)
        except NotebookNotReady:
            raise
        except Exception as error:
            raise NotebookNotReady(
                f"{assignment}: running the definitions of cell {index} failed with "
                f"{type(error).__name__}: {error}") from error


def from_notebook(assignment: str, *names: str, folder: Optional[PathLike] = None):
    """``from_notebook("01-attention", "MultiHeadAttention")``: one object, or a tuple of several.

    Raises :class:`NotebookNotReady` (with what to do) if the notebook is missing, if one of its
    TODOs is not written yet, or if it defines no such name.
    """
    if not names:
        raise TypeError("from_notebook(assignment, *names): name at least one definition")
    module = load_notebook(assignment, folder)
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        raise NotebookNotReady(
            f"{module.__notebook__} defines no {', '.join(missing)}: keep the names of the TODOs as the notebook "
            f"gives them (it defines {', '.join(sorted(n for n in vars(module) if not n.startswith('_'))) or 'nothing'}).")
    found = tuple(getattr(module, name) for name in names)
    return found[0] if len(found) == 1 else found


def source_notebook(obj) -> Optional[str]:
    """The notebook file an object was loaded from (None for anything else)."""
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    return getattr(module, "__notebook__", None)


def export_definitions(source: PathLike, destination: PathLike) -> Path:
    """Write a copy of the notebook ``source`` that keeps only what :func:`load_notebook` reads.

    The grader puts such copies of the instructor's notebooks where ``COURSE_NOTEBOOKS`` points,
    so a graded kernel gets the reference definitions and nothing else (no hidden tests).
    """
    notebook = json.loads(Path(source).read_text(encoding="utf-8"))
    kept = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        if _is_definition_cell(cell):
            kept.append(cell)
            continue
        try:
            tree = ast.parse(_without_magics(_source(cell)))
        except SyntaxError:
            continue
        imports = [ast.get_source_segment(_without_magics(_source(cell)), node) for node in tree.body
                   if isinstance(node, (ast.Import, ast.ImportFrom))]
        if imports:
            kept.append({**cell, "source": "\n".join(imports), "outputs": [], "execution_count": None})
    for cell in kept:
        cell["outputs"], cell["execution_count"] = [], None
    notebook["cells"] = kept
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return destination
