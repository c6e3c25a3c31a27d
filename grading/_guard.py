"""The integrity check of a grading kernel: ``python _guard.py KERNEL-ARGUMENTS...``.

A student's code and the tests that grade it share one Python process, so a student cell can
change what the tests rely on: redefine a test helper, replace ``torch.allclose``, wrap PyTorch's
``MultiheadAttention`` and hand it in as an answer. This script starts the grading kernel with a
watch on all of that, installed before the notebook's first cell runs:

- before the kernel starts it imports PyTorch, NumPy, the course's ``utils`` and IPython with the
  notebook's folder *off* ``sys.path`` (a student's ``torch.py`` or ``utils/`` cannot stand in for
  them), then puts that folder first on ``sys.path`` as ``python -m ipykernel_launcher`` does;
- it adds an audit hook (PEP 578). An audit hook cannot be removed from Python; it runs inside the
  interpreter's audited operations (``compile``, setting attributes of classes and functions,
  ``sys.settrace``, ``gc.get_referrers``, ``open``, forging code objects...), and it is where this
  check keeps its state, out of reach of the notebook's names;
- every cell is compiled by IPython under a file name made from its source: when a cell starts,
  the hook compares what the tests rely on with how it was before the first cell ran: the
  attributes of the protected modules (``torch``, ``torch.nn``, ``torch.nn.functional``,
  ``torch.testing``, ``numpy``, ``math``, ``builtins``, ``unittest.mock``, ``utils.*``, IPython's
  and ipykernel's classes...), the attributes of their classes, ``sys.modules``; the names that
  the read-only and test cells define and later ones use (test helpers, output types, constants);
  IPython's error display (``showtraceback``, custom exception handlers, AST transformers);
- at the moment it happens it sees code of a student cell replace an attribute of a protected
  class or module, swap a function's code, start a tracer, walk the garbage collector (the way to
  this check's own state), open the instructor's notebooks, forge a code object under a read-only
  cell's name, or call one of PyTorch's reference implementations (the attention and Transformer
  layers the tests compare with) while a test runs;
- it tells the grader through a pipe the grader gave it (file descriptor ``COURSE_GUARD_FD``):
  one line per cell that starts and one per finding. Lines written are out of the kernel's reach;
  if the pipe is closed or replaced, the hook raises in every audited operation (compiling the
  next cell is one), so the check fails closed, and the grader sees the cells it did not hear of.

Who did it is read from the call stack: the innermost frame of code compiled from a notebook cell
decides. Code of a read-only or test cell (their sources come in ``COURSE_GUARD``) is trusted (a
test may patch PyTorch with ``unittest.mock`` to forbid a shortcut); code of any other cell is the
student's. Library code in between (``unittest.mock`` called by a student cell) does not hide it.

What this cannot see is listed in the README (instructor guide, "What the grader detects"): a
change made and undone while one test cell runs, through a namespace's dictionary rather than an
attribute (``vars(torch)["allclose"] = ...``); and anything done through ``ctypes`` or a compiled
extension, which can rewrite the interpreter's memory, this hook included.
"""
import json
import os
import sys

#: Modules whose attributes (and whose classes' attributes) the tests rely on.
PROTECTED_MODULES = (
    "builtins", "math", "random", "operator", "functools", "itertools", "copy", "unittest", "unittest.mock",
    "numpy", "numpy.testing", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.parameter",
    "torch.nn.modules", "torch.nn.modules.module", "torch.nn.modules.activation", "torch.nn.modules.linear",
    "torch.nn.modules.transformer", "torch.nn.modules.dropout", "torch.nn.modules.normalization",
    "torch.nn.modules.sparse", "torch.nn.modules.container", "torch.nn.modules.loss", "torch.testing",
    "torch.testing._comparison", "torch.autograd", "torch.random", "torch.linalg", "torch._tensor",
    "utils", "utils.testing", "utils.notebooks", "utils.data", "utils.vocab", "utils.batching", "utils.training",
    "utils.evaluation", "utils.decoding", "utils.models", "utils.recipes",
    "IPython", "IPython.core.interactiveshell", "IPython.core.ultratb", "IPython.core.events",
    "IPython.core.compilerop", "ipykernel.zmqshell", "ipykernel.ipkernel", "ipykernel.kernelbase",
    "ipykernel.compiler",
)
#: Attributes of ``builtins`` that IPython and ipykernel set anew for every cell.
BUILTINS_PER_CELL = frozenset({"exit", "quit", "get_ipython", "input", "raw_input", "display", "__IPYTHON__",
                               "dreload", "_", "help"})
#: PyTorch's implementations of what the course's TODOs build: the tests compare with them, an
#: answer must not call them. (module path, attribute) -- a class means its ``forward``.
REFERENCES = (
    ("torch.nn.functional", "scaled_dot_product_attention"), ("torch.nn.functional", "multi_head_attention_forward"),
    ("torch", "_native_multi_head_attention"), ("torch", "_transformer_encoder_layer_fwd"),
    ("torch.nn", "MultiheadAttention"), ("torch.nn", "Transformer"), ("torch.nn", "TransformerEncoder"),
    ("torch.nn", "TransformerDecoder"), ("torch.nn", "TransformerEncoderLayer"), ("torch.nn", "TransformerDecoderLayer"),
)
#: The interactive shell's attributes that decide what a cell runs and how its errors are shown.
SHELL_ATTRIBUTES = ("showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror", "custom_exceptions",
                    "CustomTB", "run_cell", "run_cell_async", "_run_cell", "run_code", "run_ast_nodes", "transform_cell",
                    "transform_ast", "ast_transformers", "input_transformers_post", "input_transformers_cleanup",
                    "input_transformer_manager", "compile", "events", "InteractiveTB", "SyntaxTB", "user_ns",
                    "user_global_ns", "user_module", "kernel", "displayhook", "display_pub")
KERNEL_ATTRIBUTES = ("do_execute", "execute_request", "shell", "send_response", "session", "iopub_socket")
EVENTS = frozenset({"compile", "object.__setattr__", "object.__delattr__", "sys.settrace", "sys.setprofile",
                    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "open", "code.__new__"})
MAX_REPORTS = 200
_MISSING = object()
_DATA = (int, float, bool, complex, str, bytes, type(None))


def _import_protected(folder):
    """Import the protected modules with the notebook's folder (and this script's) off sys.path."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in (folder, here)]
    try:
        # torch._dynamo rebinds torch.manual_seed when it is first imported: before the snapshot, not after
        for name in PROTECTED_MODULES + ("torch._dynamo", "ipykernel.kernelapp", "IPython.core.inputtransformer2"):
            try:
                importlib.import_module(name)
            except Exception:  # a module this course does not have (e.g. utils outside the course)
                pass
    finally:
        sys.path[:] = [folder] + [p for p in saved if os.path.abspath(p or ".") not in (folder, here)]


def _cell_reads(source):
    """What a cell's code reads from the notebook's namespace and what it binds there.

    Returns (reads, stores, function_reads): the names its module-level code (and the
    comprehensions and lambdas in it) reads without binding them in the cell, the names it binds,
    and the global names the functions and classes it defines read when they run.
    """
    import symtable

    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set(), set(), set()
    top = {s.get_name(): s for s in table.get_symbols()}
    stores = {n for n, s in top.items() if s.is_assigned() or s.is_imported()}
    inline_scopes = {"listcomp", "setcomp", "dictcomp", "genexpr", "lambda"}
    for child in table.get_children():  # def f / class C bind their names
        if child.get_name() not in inline_scopes and not child.get_name().startswith("<"):
            stores.add(child.get_name())
    reads = {n for n, s in top.items() if s.is_referenced()}
    function_reads = set()

    def globals_of(t, into):
        for symbol in t.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                into.add(symbol.get_name())
        for child in t.get_children():
            globals_of(child, into)

    for child in table.get_children():
        inline = child.get_name().startswith("<") or child.get_name() in inline_scopes
        globals_of(child, reads if inline else function_reads)
    return reads - stores, stores, function_reads


def install(report_fd, config):
    """Install the audit hook; its state lives in this function's closure only."""
    import ast
    import types

    from ipykernel import compiler as ipykernel_compiler
    from IPython.core.inputtransformer2 import TransformerManager

    _getframe, _write, _fstat, _dumps = sys._getframe, os.write, os.fstat, json.dumps
    _sys_modules, _isinstance, _id, _type = sys.modules, isinstance, id, type
    fd_identity = (_fstat(report_fd).st_dev, _fstat(report_fd).st_ino)
    cell_dir = ipykernel_compiler.get_tmp_directory() + os.sep
    murmur, seed = ipykernel_compiler.murmur2_x86, ipykernel_compiler.get_tmp_hash_seed()
    transformer = TransformerManager()
    forbidden = tuple(os.path.join(os.path.realpath(p), "") for p in config.get("forbidden", []) if p)

    trusted = {}  # cell file name -> what we know of the read-only cell
    for cell in config.get("trusted", []):
        source = cell["source"]
        try:
            expected = transformer.transform_cell(source)
            statements = {ast.dump(node) for node in ast.parse(expected).body}
        except Exception:
            expected, statements = None, set()
        reads, stores, function_reads = _cell_reads(expected or source)
        trusted[cell_dir + str(murmur(source, seed)) + ".py"] = {
            "label": cell["label"], "test": bool(cell.get("test")), "expected": expected, "statements": statements,
            "reads": reads, "stores": stores, "function_reads": function_reads}

    state = {"started": False, "current": None, "busy": False, "reports": 0, "dead": False,
             "modules": {}, "classes": {}, "names": {}, "name_owner": {}, "function_reads": set(), "shell": None,
             "shell_snapshot": {}, "kernel_snapshot": {}, "namespace": None, "seen_modules": set(),
             "reported": set(), "folder": config.get("folder") or os.getcwd()}
    protected_ids = {}  # id(class or function) -> (object, description): what setattr may not touch

    def send(record):
        if state["dead"]:
            raise RuntimeError("the grader's integrity check lost its channel")
        try:
            stat = _fstat(report_fd)
            if (stat.st_dev, stat.st_ino) != fd_identity:
                raise OSError("the report channel was replaced")
            _write(report_fd, (_dumps(record) + "\n").encode("utf-8", "replace"))
        except OSError:
            state["dead"] = True
            raise RuntimeError("the grader's integrity check lost its channel")

    def flag(kind, target, message):
        key = (kind, target)
        if key in state["reported"] or state["reports"] >= MAX_REPORTS:
            return
        state["reported"].add(key)
        state["reports"] += 1
        send({"event": "flag", "kind": kind, "target": target, "message": message, "cell": state["current"]})

    def who():
        """(the innermost notebook cell's file name, and the read-only test cell above it, if any)."""
        frame = _getframe(2)
        innermost, test = None, None
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(cell_dir):
                if innermost is None:
                    innermost = name
                if name in trusted and trusted[name]["test"]:
                    test = name
                    break
            frame = frame.f_back
        return innermost, test

    def student(innermost):
        return innermost is not None and innermost not in trusted

    def label(name):
        if name in trusted:
            return trusted[name]["label"]
        return "a cell of yours"

    def flat(mapping):
        return tuple(x for pair in mapping.items() for x in pair)

    def content(obj):
        """What can change inside a protected object without rebinding it, as a tuple compared by identity
        (comparing with == could run a student's __eq__ inside this hook)."""
        if _isinstance(obj, types.FunctionType):
            return (obj.__code__, obj.__defaults__, *flat(obj.__kwdefaults__ or {}), *flat(obj.__dict__))
        if _isinstance(obj, type):
            return flat(vars(obj))
        if _type(obj) is dict:
            return flat(obj)
        if _type(obj) is list:
            return tuple(obj)
        if _type(obj) is set:
            return tuple(sorted(obj, key=_id))
        return None

    def same_content(obj, before):
        now = content(obj)
        if before is None or now is None:
            return before is now
        return len(now) == len(before) and all(a is b for a, b in zip(now, before))

    def snapshot_module(name, module):
        state["modules"][name] = (module, dict(vars(module)))
        for attr, value in vars(module).items():
            if (_isinstance(value, type) and value.__flags__ & (1 << 9)  # a class whose attributes can be set
                    and _id(value) not in state["classes"]):
                state["classes"][_id(value)] = (value, dict(vars(value)), f"{getattr(value, '__module__', name)}."
                                                f"{getattr(value, '__qualname__', attr)}")
                protected_ids[_id(value)] = (value, state["classes"][_id(value)][2])
            elif _isinstance(value, types.FunctionType):
                protected_ids[_id(value)] = (value, f"{name}.{attr}")

    def start():
        """Before the first cell runs: what everything is like."""
        state["started"] = True
        for name in PROTECTED_MODULES:
            module = _sys_modules.get(name)
            if module is not None:
                snapshot_module(name, module)
                state["seen_modules"].add(name)
        state["seen_modules"].update(_sys_modules)
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell._instance if InteractiveShell.initialized() else None
        state["shell"] = shell
        if shell is not None:
            state["namespace"] = shell.user_ns
            state["shell_snapshot"] = {name: shell_value(shell, name) for name in SHELL_ATTRIBUTES}
            kernel = getattr(shell, "kernel", None)
            state["kernel_snapshot"] = {name: vars(kernel).get(name, _MISSING) for name in KERNEL_ATTRIBUTES} \
                if kernel is not None else {}
            for obj in (type(shell), type(kernel)):
                for cls in obj.__mro__:
                    if cls.__flags__ & (1 << 9) and _id(cls) not in state["classes"]:
                        state["classes"][_id(cls)] = (cls, dict(vars(cls)), f"{cls.__module__}.{cls.__qualname__}")
                        protected_ids[_id(cls)] = (cls, state["classes"][_id(cls)][2])

    def shell_value(shell, name):
        try:
            getattr(shell, name)  # a trait's default value is made on first use
        except Exception:
            pass
        own = vars(shell).get(name, _MISSING)
        trait = getattr(shell, "_trait_values", {}).get(name, _MISSING)
        listed = content(trait) if _type(trait) in (list, dict) else None  # its items, by identity
        return own, trait, listed

    def check_libraries():
        for name, (module, before) in state["modules"].items():
            if _sys_modules.get(name) is not module:
                flag("sys.modules", name, f"sys.modules['{name}'] was replaced or removed: the tests rely on the "
                     f"real {name}")
            live = vars(module)
            for attr, value in before.items():
                if name == "builtins" and attr in BUILTINS_PER_CELL:
                    continue
                now = live.get(attr, _MISSING)
                if now is not value:
                    what = "deleted" if now is _MISSING else "replaced"
                    flag("library", f"{name}.{attr}", f"{name}.{attr} was {what}: the tests rely on it")
        for cls, before, qualname in state["classes"].values():
            live = vars(cls)
            for attr, value in before.items():
                if _type(value) in _DATA:  # counters and flags of a class (RemovableHandle.next_id)
                    continue
                now = live.get(attr, _MISSING)
                if now is not value and not (attr == "__doc__" and now == value):
                    what = "deleted" if now is _MISSING else "replaced"
                    flag("library", f"{qualname}.{attr}", f"{qualname}.{attr} was {what}: the tests rely on it")
        shell = state["shell"]
        if shell is not None:
            for name, before in state["shell_snapshot"].items():
                own, trait, listed = shell_value(shell, name)
                if own is not before[0] or trait is not before[1] or (
                        listed is not None and not same_content(trait, before[2])):
                    flag("errors", f"shell.{name}", f"IPython's {name} was changed: it decides how a cell runs and "
                         "how its errors are shown (an error must fail its test)")
            kernel = getattr(shell, "kernel", None)
            for name, before in state["kernel_snapshot"].items():
                if kernel is None or vars(kernel).get(name, _MISSING) is not before:
                    flag("errors", f"kernel.{name}", f"the kernel's {name} was changed: it decides what a cell "
                         "reports to the grader")

    def check_shadowing():
        """Modules imported since the last check from the notebook's folder that hide installed ones."""
        from importlib.machinery import PathFinder

        folder = os.path.join(os.path.realpath(state["folder"]), "")
        new = [n for n in list(_sys_modules) if n not in state["seen_modules"]]
        state["seen_modules"].update(new)
        for name in new:
            if "." in name:
                continue
            module = _sys_modules.get(name)
            path = getattr(module, "__file__", None) or ""
            if not path or not os.path.realpath(path).startswith(folder):
                continue
            elsewhere = [p for p in sys.path if not os.path.realpath(p or ".").startswith(folder.rstrip(os.sep))]
            try:
                other = PathFinder.find_spec(name, elsewhere)
            except Exception:
                other = None
            if other is not None or name in sys.builtin_module_names:
                flag("shadowing", name, f"{os.path.basename(path)} in the notebook's folder hides the installed "
                     f"module {name!r}: rename your file")

    def check_names(previous, current):
        ns = state["namespace"]
        if ns is None:
            return
        names, owner = state["names"], state["name_owner"]
        if previous in trusted:
            info = trusted[previous]
            at_start = state.get("at_start", {})
            for name in sorted(at_start.keys() - info["stores"]):  # not this cell's doing: code it called
                if ns.get(name, _MISSING) is not at_start[name]:
                    flag("names", name, f"{name!r}, which the read-only cell {owner[name]} defines and the tests "
                         f"use, was changed while the read-only cell {info['label']} ran, by code it called")
            for name in info["stores"]:
                value = ns.get(name, _MISSING)
                if value is not _MISSING:
                    names[name] = (value, content(value))
                    owner[name] = info["label"]
                    if _isinstance(value, (type, types.FunctionType)):
                        protected_ids[_id(value)] = (value, name)
            if not info["test"]:  # helpers of later tests; a test cell's own functions serve that cell
                state["function_reads"] |= info["function_reads"]
        if current in trusted:
            needed = (trusted[current]["reads"] | state["function_reads"]) & names.keys()
            for name in sorted(needed):
                value, before = names[name]
                now = ns.get(name, _MISSING)
                if now is not value:
                    what = "deleted" if now is _MISSING else "redefined"
                    flag("names", name, f"{name!r}, which the read-only cell {owner[name]} defines and the tests "
                         f"use, was {what} by a later cell: give your own names that are not the tests'")
                elif before is not None and not same_content(now, before):
                    flag("names", name, f"{name!r}, which the read-only cell {owner[name]} defines and the tests "
                         "use, was changed by a later cell")
            state["at_start"] = {name: ns.get(name, _MISSING) for name in names}
            if state["shell"] is not None and state["shell"].user_ns is not ns:
                flag("names", "user_ns", "the notebook's namespace was replaced")

    def on_cell(filename, source):
        previous = state["current"]
        state["current"] = filename
        if not state["started"]:
            start()
        send({"event": "cell", "file": os.path.basename(filename)})
        info = trusted.get(filename)
        if info is not None and info["expected"] is not None and source != info["expected"]:
            flag("cells", filename, f"the code of the read-only cell {info['label']} was changed before it ran")
        check_libraries()
        check_shadowing()
        check_names(previous, filename)

    def on_ast(filename, node):
        info = trusted.get(filename)
        if info is None or not info["statements"]:
            return
        for statement in getattr(node, "body", []) or []:
            if ast.dump(statement) not in info["statements"]:
                flag("cells", filename, f"the code of the read-only cell {info['label']} was rewritten before "
                     "it ran (an AST transformer?)")
                return

    def hook(event, args):
        if event not in EVENTS or state["busy"]:
            return
        state["busy"] = True
        try:
            if event == "compile":
                source, filename = args[0], args[1]
                if _isinstance(filename, str) and filename.startswith(cell_dir):
                    if _isinstance(source, (str, bytes)):
                        on_cell(filename, source.decode() if _isinstance(source, bytes) else source)
                    elif _isinstance(source, ast.AST):
                        on_ast(filename, source)
            else:
                other_event(event, args)
        except RuntimeError:
            if event == "compile":  # fail closed: no cell compiles once the report cannot reach the grader
                raise
        finally:
            state["busy"] = False

    def other_event(event, args):
        """Events other than compiling: who changed a protected class, opened, forged or traced what."""
        if event in ("object.__setattr__", "object.__delattr__"):
            obj, name = args[0], args[1]
            entry = protected_ids.get(_id(obj))
            if entry is not None and entry[0] is obj and state["started"]:
                innermost, _ = who()
                if student(innermost):
                    flag("library", f"{entry[1]}.{name}", f"{entry[1]}.{name} was changed by {label(innermost)}: "
                         "the tests rely on it")
        elif event == "open":
            path = args[0]
            if forbidden and _isinstance(path, (str, bytes)) and state["started"]:
                real = os.path.realpath(path if _isinstance(path, str) else path.decode("utf-8", "replace"))
                if real.startswith(forbidden):
                    innermost, _ = who()
                    if innermost is None or student(innermost):
                        flag("answers", real, f"{real} (the instructor's notebooks) was opened: answers must "
                             "be written, not read")
        elif event == "code.__new__":
            filename = args[1] if len(args) > 1 else ""
            if _isinstance(filename, str) and filename.startswith(cell_dir) and state["started"]:
                flag("cells", filename, "a code object was made under the file name of a notebook cell")
        elif state["started"]:  # tracers, the garbage collector
            innermost, _ = who()
            if student(innermost):
                what = {"sys.settrace": "set a tracer (sys.settrace)", "sys.setprofile": "set a profiler "
                        "(sys.setprofile)"}.get(event, f"walked the garbage collector ({event})")
                flag("tracing", event, f"{label(innermost)} {what}: it can change what the tests see")

    def reference(owner, attr, original):
        import functools

        qualname = f"{owner}.{attr}"

        @functools.wraps(original)
        def guarded(*args, **kwargs):
            if not state["busy"] and state["started"]:
                innermost, test = who()
                if test is not None and student(innermost):
                    state["busy"] = True
                    try:
                        flag("answers", qualname, f"your code called PyTorch's {qualname} while the test "
                             f"{trusted[test]['label']} ran: the tests compare with it, the answer must compute "
                             "it itself")
                    finally:
                        state["busy"] = False
            return original(*args, **kwargs)

        guarded.__course_reference__ = original
        return guarded

    for module_name, attr in REFERENCES:
        module = _sys_modules.get(module_name)
        target = getattr(module, attr, None) if module is not None else None
        if target is None:
            continue
        if _isinstance(target, type):
            forward = vars(target).get("forward")
            if forward is not None:
                target.forward = reference(f"{module_name}.{attr}", "forward", forward)
        else:
            setattr(module, attr, reference(module_name, attr, target))
    sys.addaudithook(hook)
    send({"event": "ready", "trusted": len(trusted)})


def main():
    fd = os.environ.pop("COURSE_GUARD_FD", None)
    config = json.loads(os.environ.pop("COURSE_GUARD", "") or "{}")
    os.environ.pop("IPYKERNEL_CELL_NAME", None)  # every cell under one name would hide which one ran
    folder = os.path.realpath(os.getcwd())
    _import_protected(folder)
    if fd is not None:
        install(int(fd), config)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=sys.argv[1:])


if __name__ == "__main__":
    main()
