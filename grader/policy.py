"""Which names a graded cell may use, decided in the grader's own process from the source.

An implementation question (one with a ``forbidden`` list in :mod:`grader.registry`) asks
for the student's own code, so its graded cells may not reuse the kit's answers or Keras'
built-in layers. :func:`violations` reads the submitted text with :mod:`ast` (it never runs
it) and returns one actionable reason per problem; an empty list means the cells may score.
Nothing the student process reports about itself can clear a cell: that process runs the
student's code and could say anything.

A check of names in the text is only sound if the text cannot reach a name some other way,
so besides the forbidden names themselves a graded cell of such a question may not:

* run code built from text (``exec``, ``eval``, ``compile``, ``code``, ``runpy``, ...);
* load modules or objects by name (``__import__``, ``importlib``, ``pkgutil``, ``pydoc``,
  Keras' deserialisation helpers, pickles, ...);
* look attributes up by a computed name anywhere but on ``self`` inside a method
  (``getattr(self, f"W_{gate}x")`` stays allowed), nor use namespaces as dictionaries
  (``globals``, ``vars``, ``locals``, ``sys.modules``);
* reach objects through the interpreter (double-underscore attributes, frames, ``gc``,
  ``inspect``, ``ctypes``) or start other programs (which could run the kit's answers);
* pass a module around as a value (``[keras.layers][0]``): a module may only be used
  through its attributes, which is what makes every use visible here;
* hide a forbidden module or class in a string constant.

``os`` and ``sys`` may be imported, but only harmless attributes used (``os.path``,
``os.environ``, ``sys.float_info``, ...): the rest starts programs or reaches
``sys.modules`` and frames. ``threading`` stays allowed: it neither loads code nor finds
objects by name. The static check cannot follow values through containers, calls or
computed dictionary keys; refusing modules as values and every by-name loader is what
keeps that gap closed. The one residual route left open is a configuration dictionary
built with computed keys and handed to a Keras API that deserialises implicitly; the
probe's inspection of the student's objects (which may only take credit away) covers it.

Honest solutions need none of this; ``tests/test_grader_policy.py`` checks the reference
solutions and every solution notebook against the policy of their question.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

from grader.registry import AUTODIFF

__all__ = ["violations"]

# The child compiles each cell after grader.probes.strip_magics; read the same text (that
# module imports Keras, which this one must not).
MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$")

# ---------------------------------------------------------------- why a use is refused

OWN = "this question asks for your own implementation from raw weights and keras.ops"
KIT = "this question asks for your own implementation, not the course kit's answer"
BY_HAND = ("this question asks for the gradients by hand, in NumPy: no automatic, numerical or "
           "symbolic differentiation library")
KIT_OTHER = ("this question asks for your own implementation; from the course kit, graded "
             "cells may use only course_kit.data, course_kit.autodiff and course_kit.plots "
             "(run the kit's visible checks in a separate, ungraded cell)")
TEXT = "graded cells may not run code built from text"
BY_NAME = "graded cells may not load modules or objects from a name held in a string"
REFLECT = "graded cells may not reach objects through the interpreter's internals"
NAMESPACE = "graded cells may not look names up in namespaces; use the names directly"
LOOKUP = ("graded cells may look attributes up by a computed name only on `self` inside a "
          "method, e.g. getattr(self, f\"W_{gate}x\"); elsewhere write `obj.name`")
DUNDER_WHY = ("graded cells may not use double-underscore attributes other than __init__, "
              "__call__, __name__, __qualname__ and __doc__")
PICKLE = "graded cells may not load pickled objects (loading a pickle runs code)"
PROCESS = ("graded cells may not start other programs, which could run the kit's answers "
           "outside this check")
NETWORK = "graded cells may not open network connections"
CONFIG = ("graded cells may not create Keras objects from a class name, a saved model or a "
          "configuration")
PRIVATE = "graded cells may use only Keras' public API (keras.layers.Layer, keras.ops, ...)"
GRADER = "graded cells may not use the grader's own modules"
PRIVATE_NAME = "graded cells may not use a module's private names (those starting with _)"
MODULE_CHANGE = "graded cells may not change modules (their functions, classes or variables)"
MODULE_VALUE = ("use a module only through its attributes (keras.ops.tanh, np.zeros); a "
                "module passed around as a value hides what the cell uses")
STRING = ("graded cells may not name a forbidden module or class, or a double-underscore "
          "attribute, in a string")
RELATIVE = "graded cells run as a script: import modules by their full name"
NESTED = "the graded cells are nested too deeply to be checked; simplify the expression"

# Modules (and objects) a graded cell of an implementation question may not use at all; a
# dotted prefix matches anything inside.
BLOCKED = {
    **dict.fromkeys(("code", "codeop", "timeit", "doctest", "trace", "profile", "cProfile",
                     "pdb", "bdb", "rlcompleter", "IPython", "ipykernel", "jupyter_client",
                     "annotationlib"), TEXT),
    **dict.fromkeys(("importlib", "imp", "pkgutil", "zipimport", "runpy", "pydoc", "site",
                     "logging.config", "unittest.mock", "mock", "numpy.f2py",
                     "numpy.distutils", "torch.hub", "torch.package"), BY_NAME),
    **dict.fromkeys(("inspect", "gc", "ctypes", "_ctypes", "cffi", "_cffi_backend",
                     "builtins", "__builtin__", "numpy.ctypeslib", "_thread", "traceback",
                     "signal"), REFLECT),
    **dict.fromkeys(("pickle", "_pickle", "cPickle", "pickletools", "dill", "cloudpickle",
                     "joblib", "shelve", "copyreg", "copy_reg", "marshal", "jsonpickle",
                     "yaml", "torch.load", "torch.jit.load"), PICKLE),
    **dict.fromkeys(("subprocess", "_posixsubprocess", "multiprocessing", "pty", "posix", "nt",
                     "concurrent.futures.process", "concurrent.futures.ProcessPoolExecutor"),
                    PROCESS),
    **dict.fromkeys(("socket", "_socket", "ssl", "http", "urllib", "requests"), NETWORK),
    **dict.fromkeys(("keras.saving", "keras.models.model_from_json",
                     "keras.models.model_from_config", "keras.models.load_model",
                     "keras.layers.deserialize", "keras.layers.TFSMLayer",
                     "keras.utils.get_registered_object", "keras.utils.get_custom_objects",
                     "keras.utils.custom_object_scope", "keras.utils.CustomObjectScope",
                     "keras.utils.deserialize_keras_object",
                     "keras.config.enable_unsafe_deserialization"), CONFIG),
    **dict.fromkeys(("keras.src", "keras._tf_keras"), PRIVATE),
    # the grader's package, and the child-side files importable as top-level modules in the
    # student process (grader/jail.py CHILD_FILES and the questions package of probes);
    # tests and solutions hold references
    **dict.fromkeys(("grader", "probes", "protocol", "_child", "questions", "tests",
                     "solutions"), GRADER),
}
# Harmless names inside a blocked module: registering one's own class for saving.
ALLOWED_INSIDE_BLOCKED = ("keras.saving.register_keras_serializable",
                          "keras.utils.register_keras_serializable")

# Other libraries' ready-made layers, refused wherever a question forbids Keras' layers (kept
# out of grader/registry.py, whose lists the student process also applies to Keras' classes).
OTHER_LAYER_LIBRARIES = ("tensorflow.keras", "tf_keras", "torch.nn", "flax.linen", "flax.nnx",
                         "haiku", "equinox.nn", "spektral", "torch_geometric", "dgl")

# What a graded cell may use from the kit when the question forbids any of its modules:
# the rest (checks, experiments, text) holds or runs reference implementations.
KIT_ALLOWED = ("course_kit.data", "course_kit.autodiff", "course_kit.plots")

# ``os`` and ``sys`` are half harmless: these attributes may be used, nothing else (os can
# start programs; sys holds sys.modules, frames and the import machinery).
OS_ALLOWED = frozenset(("path", "environ", "getenv", "sep", "linesep", "pathsep", "curdir",
                        "getcwd", "listdir", "makedirs", "cpu_count", "fspath", "PathLike",
                        "name"))
SYS_ALLOWED = frozenset(("float_info", "int_info", "maxsize", "version", "version_info",
                         "platform", "byteorder", "stdout", "stderr", "getrecursionlimit",
                         "setrecursionlimit", "float_repr_style", "hash_info"))
OS_WHY = ("from os, graded cells may use only os.path, os.environ, os.getenv and the like (os "
          "can start other programs)")
# From types only SimpleNamespace: FunctionType, CodeType and MethodType build or rebind code.
TYPES_ALLOWED = frozenset(("SimpleNamespace",))
SYS_WHY = ("from sys, graded cells may use only sys.float_info, sys.maxsize, sys.version_info, "
           "sys.platform, sys.stdout and sys.stderr (sys.modules and frames reach the kit)")

# Builtins that run text or expose namespaces, whatever object they are called on.
DYNAMIC_BUILTINS = {"exec": TEXT, "eval": TEXT, "compile": TEXT,
                    "breakpoint": "graded cells may not start a debugger",
                    "globals": NAMESPACE, "vars": NAMESPACE, "locals": NAMESPACE}
ATTRIBUTE_BUILTINS = ("getattr", "setattr", "delattr", "hasattr")

# Attribute names refused on any object: module loaders, Keras deserialisation, frames and
# code objects, the garbage collector, process starters reached through a hidden module.
DANGEROUS_ATTRIBUTES = {
    **dict.fromkeys(("exec", "eval", "safe_eval", "run_cell", "run_code", "runsource",
                     "runcode"), TEXT),
    **dict.fromkeys(("import_module", "reload", "find_spec", "module_from_spec",
                     "spec_from_file_location", "spec_from_loader", "exec_module",
                     "load_module", "load_source", "run_path", "run_module", "resolve_name",
                     "locate", "get_type_hints", "evaluate_forward_ref", "_evaluate",
                     "attrgetter", "methodcaller", "get_field", "dictConfig", "fileConfig"),
                    BY_NAME),
    **dict.fromkeys(("get_registered_object", "get_registered_name", "get_custom_objects",
                     "custom_object_scope", "CustomObjectScope", "deserialize",
                     "deserialize_keras_object", "from_config", "model_from_json",
                     "model_from_config", "model_from_yaml", "load_model", "TFSMLayer",
                     "saved_model", "enable_unsafe_deserialization"), CONFIG),
    **dict.fromkeys(("_getframe", "currentframe", "f_back", "f_globals", "f_locals",
                     "f_builtins", "f_code", "gi_frame", "gi_code", "cr_frame", "cr_code",
                     "ag_frame", "ag_code", "tb_frame", "tb_next", "co_code", "co_consts",
                     "co_names", "func_globals", "get_objects", "get_referrers",
                     "get_referents", "mro", "ctypes", "ctypeslib", "modules", "CDLL",
                     "PyDLL", "dlopen", "load_library", "load_op_library"), REFLECT),
    **dict.fromkeys(("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp",
                     "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp",
                     "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
                     "spawnve", "spawnvp", "spawnvpe", "create_subprocess_exec",
                     "create_subprocess_shell", "ProcessPoolExecutor"), PROCESS),
}

# Double-underscore names a graded cell may use (``super().__init__``, ``__name__``).
DUNDER_ATTRIBUTES_ALLOWED = frozenset(("__init__", "__call__", "__name__", "__qualname__",
                                       "__doc__"))
DUNDER_NAMES_ALLOWED = frozenset(("__name__", "__doc__", "__debug__"))
DUNDER_STRINGS_ALLOWED = frozenset(("__main__", "__init__", "__call__", "__name__",
                                    "__qualname__", "__doc__"))
DUNDER = re.compile(r"^__\w+__$")
DUNDER_IN_TEXT = re.compile(r"__[A-Za-z]\w*?__")
PICKLE_WORD = re.compile(r"pickle", re.IGNORECASE)
IMPORT_WORD = re.compile(r"(?:^|_)(?:import(?:lib|er|ers|s)?|imp)(?:_|$)", re.IGNORECASE)
CONFIG_KEYS = frozenset(("class_name", "registered_name"))

KIT_ROOT = Path(__file__).resolve().parents[1] / "course_kit"


# ---------------------------------------------------------------- the entry point


def violations(sources: list[str], forbidden, names=None) -> list[str]:
    """Reasons why the graded cells ``sources`` may not score (empty: they may).

    ``forbidden`` is the question's list of dotted prefixes (``keras.layers.LSTMCell``,
    ``course_kit.layers``); without one the question asks for no own implementation and
    nothing is checked. ``names`` labels the cells in the messages (``("q1_2",)``). The
    sources share one namespace in that order, as in the student process. A cell that does
    not parse is not a violation: the student process reports its SyntaxError.
    """
    forbidden = tuple(forbidden or ())
    if not forbidden:
        return []
    names = list(names) if names is not None else [None] * len(sources)
    try:
        checker = _Checker(forbidden)
        for source, name in zip(sources, names):
            checker.add(source, name)
        return checker.run()
    except Exception as error:  # fail closed: a cell the check could not read gets no credit
        return [f"the grader could not check the graded cells ({type(error).__name__}: "
                f"{error}); this is the grader's fault, please report it"]


# ---------------------------------------------------------------- helpers


def strip_magics(source: str) -> str:
    """The text the student process compiles (IPython magics commented out)."""
    return "\n".join(MAGIC_LINE.sub(r"\1# \2", line) for line in source.splitlines())


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


@functools.lru_cache(maxsize=None)
def _kit_answer_names(modules: tuple[str, ...]) -> frozenset[str]:
    """Names the kit's answer modules define (classes, functions, constants), read with ast.

    A name that another kit module defines too (``summarize``) is left out: a path through
    that module is not the answer's.
    """

    def defined(path):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            return set()
        found, statements = set(), list(tree.body)
        while statements:
            node = statements.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {t.id for t in targets if isinstance(t, ast.Name)}
            elif isinstance(node, (ast.If, ast.Try)):
                statements += node.body + node.orelse + getattr(node, "finalbody", [])
        return {name for name in found if not DUNDER.match(name)}

    answers, others = set(), set()
    for path in KIT_ROOT.rglob("*.py"):
        dotted = ".".join(("course_kit", *path.relative_to(KIT_ROOT).with_suffix("").parts))
        dotted = dotted.removesuffix(".__init__")
        (answers if any(_matches(dotted, m) for m in modules) else others).update(defined(path))
    return frozenset(answers - others)


@functools.lru_cache(maxsize=4096)
def _is_module(path: str) -> bool:
    """Whether ``path`` names a module or package, found on disk without importing it."""
    parts = path.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError, AttributeError):
        return False
    if spec is None:
        return False
    if len(parts) == 1:
        return True
    locations = list(spec.submodule_search_locations or [])
    for part in parts[1:]:
        found = None
        for location in locations:
            folder = Path(location) / part
            if (folder / "__init__.py").is_file() or (
                    folder.is_dir() and any(folder.glob("*.py"))):
                found = [str(folder)]
                break
            if (Path(location) / f"{part}.py").is_file() or any(
                    Path(location).glob(f"{part}.*.so")):
                found = []
                break
        if found is None:
            return False
        locations = found
    return True


def _call_of(node, parents):
    parent = parents.get(node)
    return parent if isinstance(parent, ast.Call) and parent.func is node else None


def _cannot_be_dunder(text, complete):
    """Whether a name starting with ``text`` (the whole name when ``complete``) is safe."""
    if complete:
        return not DUNDER.match(text)
    return bool(text) and not text.startswith("__") and text != "_"


# ---------------------------------------------------------------- the checker


class _Checker:
    def __init__(self, forbidden):
        if any(p.startswith("keras.layers.") for p in forbidden):
            forbidden = forbidden + OTHER_LAYER_LIBRARIES
        self.forbidden = forbidden
        self.class_names = {p.rsplit(".", 1)[1] for p in forbidden
                            if "." in p and p.rsplit(".", 1)[1][:1].isupper()}
        self.kit_modules = tuple(p for p in forbidden if p.startswith("course_kit."))
        self.answer_names = _kit_answer_names(self.kit_modules) if self.kit_modules else set()
        self.kit_classes = {n for n in self.answer_names if n[:1].isupper()}
        self.ancestors = {".".join(p.split(".")[:i]) for p in forbidden
                          for i in range(1, p.count(".") + 1)}
        self.trees = []          # (tree, cell name)
        self.parents = {}
        self.aliases = {}        # local name -> dotted paths it may stand for
        self.module_names = set()  # local names bound by ``import x``: surely modules
        self.found = {}          # (subject, why) -> [what, [(cell, line), ...]]

    # ------------------------------------------------------------ reading

    def add(self, source, name):
        try:
            tree = ast.parse(strip_magics(source))
        except (SyntaxError, ValueError):
            return  # the student process reports it
        except (RecursionError, MemoryError):
            self._report(None, name, 1, "nested", "are", NESTED)
            return
        self.trees.append((tree, name))

    def run(self):
        try:
            for tree, _ in self.trees:
                for node in ast.walk(tree):
                    for child in ast.iter_child_nodes(node):
                        self.parents[child] = node
            self._collect_aliases()
            for tree, name in self.trees:
                for node in ast.walk(tree):
                    self._check(node, name)
        except RecursionError:
            self._report(None, None, 1, "nested", "are", NESTED)
        return self._messages()

    # ------------------------------------------------------------ reporting

    def _report(self, node, cell, line, subject, what, why):
        key = (subject, why)
        entry = self.found.setdefault(key, [what, []])
        line = getattr(node, "lineno", line)
        if (cell, line) not in entry[1]:
            entry[1].append((cell, line))

    def _messages(self):
        messages = []
        for (_, why), (what, places) in self.found.items():
            if what == "are":
                messages.append(why)
                continue
            by_cell = {}
            for cell, line in places:
                by_cell.setdefault(cell, []).append(line)
            parts = []
            for cell, lines in by_cell.items():
                shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
                where = ("line " if len(lines) == 1 else "lines ") + shown
                parts.append(f"cell {cell}, {where}" if cell else where)
            messages.append(f"the graded cells {what} ({'; '.join(parts)}): {why}")
        return messages

    # ------------------------------------------------------------ names

    def _collect_aliases(self):
        """Every local name an import (or a plain ``x = module.attr``) binds, anywhere."""
        assignments = []
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            self._bind(alias.asname, alias.name)
                            self.module_names.add(alias.asname)
                        else:
                            top = alias.name.split(".")[0]
                            self._bind(top, top)
                            self.module_names.add(top)
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    for alias in node.names:
                        if alias.name != "*":
                            self._bind(alias.asname or alias.name, f"{node.module}.{alias.name}")
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        assignments.append((target, node.value))
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    assignments.append((node.target, node.value))
        changed = True
        while changed:
            changed = False
            for target, value in assignments:
                if not isinstance(target, ast.Name):
                    continue
                for path in self._resolve(value):
                    if path not in self.aliases.get(target.id, ()):
                        self._bind(target.id, path)
                        changed = True

    def _bind(self, name, path):
        self.aliases.setdefault(name, set()).add(path)

    def _resolve(self, node):
        """The dotted paths a Name or attribute chain stands for (empty when unknown)."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            suffix = list(reversed(parts))
            return {".".join([base, *suffix]) for base in self.aliases[node.id]}
        return set()

    def _module_path(self, node, path):
        if isinstance(node, ast.Name) and node.id in self.module_names:
            return True
        return _is_module(path)

    # ------------------------------------------------------------ rules on a dotted path

    def _path_problems(self, path):
        """(why) for everything wrong with using the dotted ``path``."""
        problems = []
        if any(_matches(path, allowed) for allowed in ALLOWED_INSIDE_BLOCKED):
            return problems
        parts = path.split(".")
        dunders = [i for i, part in enumerate(parts) if i and DUNDER.match(part)
                   and part not in DUNDER_ATTRIBUTES_ALLOWED]
        if dunders:
            # course_kit.__file__: say what is wrong with the double underscore first
            problems.append(DUNDER_WHY)
            parts = parts[:dunders[0]]
            path = ".".join(parts)
        for prefix in self.forbidden:
            if _matches(path, prefix):
                problems.append(BY_HAND if prefix in AUTODIFF else
                                KIT if prefix.startswith("course_kit") else OWN)
                break
        else:
            if any(part in self.class_names for part in parts[1:]):
                problems.append(OWN)
            elif parts[0] == "course_kit" and any(p in self.answer_names for p in parts[1:]):
                problems.append(KIT)
            elif parts[0] == "course_kit" and self.kit_modules and len(parts) > 1 and not any(
                    _matches(path, allowed) for allowed in KIT_ALLOWED):
                problems.append(KIT_OTHER)
        for prefix, why in BLOCKED.items():
            if _matches(path, prefix):
                problems.append(why)
                break
        if parts[0] == "keras" and any(p.startswith("_") and not DUNDER.match(p)
                                       for p in parts[1:]):
            problems.append(PRIVATE)
        if parts[0] == "os" and len(parts) > 1 and parts[1] not in OS_ALLOWED:
            problems.append(OS_WHY)
        if parts[0] == "sys" and len(parts) > 1 and parts[1] not in SYS_ALLOWED:
            problems.append(SYS_WHY)
        if parts[0] == "types" and len(parts) > 1 and parts[1] not in TYPES_ALLOWED:
            problems.append(REFLECT)
        return problems

    def _check_path(self, node, cell, path, verb="use"):
        for why in self._path_problems(path):
            self._report(node, cell, 0, path, f"{verb} `{path}`", why)

    # ------------------------------------------------------------ rules on each node

    def _check(self, node, cell):
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._check_path(node, cell, alias.name, "import")
                self._check_identifier(node, cell, alias.asname)
        elif isinstance(node, ast.ImportFrom):
            self._check_import_from(node, cell)
        elif isinstance(node, ast.Name):
            self._check_name(node, cell)
        elif isinstance(node, ast.Attribute):
            self._check_attribute(node, cell)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            self._check_string(node, cell)
        elif isinstance(node, ast.keyword) and node.arg and PICKLE_WORD.search(node.arg):
            self._report(node, cell, 0, node.arg, f"pass `{node.arg}=`", PICKLE)
        elif isinstance(node, ast.keyword) and node.arg in CONFIG_KEYS:
            self._report(node, cell, 0, node.arg, f"pass `{node.arg}=`", CONFIG)
        elif isinstance(node, ast.ExceptHandler):
            self._check_identifier(node, cell, node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                self._check_identifier(node, cell, name)

    def _check_identifier(self, node, cell, name):
        """A name bound by ``import ... as``, ``except ... as`` or ``global``."""
        if name and DUNDER.match(name) and name not in DUNDER_NAMES_ALLOWED:
            self._report(node, cell, 0, name, f"bind `{name}`", DUNDER_WHY)

    def _check_import_from(self, node, cell):
        module = node.module or ""
        if node.level:
            shown = "." * node.level + module
            self._report(node, cell, 0, shown, f"use a relative import `from {shown} import`",
                         RELATIVE)
            return
        for alias in node.names:
            self._check_identifier(node, cell, alias.asname)
            if alias.name == "*":
                why = self._star_problem(module)
                if why:
                    self._report(node, cell, 0, f"{module}.*", f"use `from {module} import *`",
                                 why)
                continue
            # the full path also covers the module: a prefix that matches a.b matches a.b.c
            self._check_path(node, cell, f"{module}.{alias.name}", "import")
            if alias.name in DANGEROUS_ATTRIBUTES:
                self._report(node, cell, 0, alias.name, f"import `{alias.name}`",
                             DANGEROUS_ATTRIBUTES[alias.name])

    def _star_problem(self, module):
        """Why ``from module import *`` is refused: it binds names this check cannot see."""
        problems = self._path_problems(module)
        if problems:
            return problems[0]
        top = module.split(".")[0]
        if top in ("course_kit", "os", "sys", "types", "keras", "tensorflow", "torch",
                   "jax") and not (
                _matches(module, "keras.ops") or _matches(module, "keras.activations")):
            return ("`import *` from this package would bind names this check cannot see; "
                    "import the names you need")
        if module in self.ancestors or any(_matches(p, module) for p in self.forbidden):
            return "`import *` from this package would bind the forbidden names"
        return None

    def _check_name(self, node, cell):
        name = node.id
        call = _call_of(node, self.parents)
        if DUNDER.match(name) and name not in DUNDER_NAMES_ALLOWED:
            why = BY_NAME if name == "__import__" else DUNDER_WHY
            self._report(node, cell, 0, name, f"{'call' if call else 'use'} `{name}`", why)
            return
        if name in self.aliases:
            self._check_chain(node, cell)
        elif name in DYNAMIC_BUILTINS:
            self._report(node, cell, 0, name, f"{'call' if call else 'use'} `{name}`",
                         DYNAMIC_BUILTINS[name])
        elif name in ATTRIBUTE_BUILTINS:
            if call is None:
                self._report(node, cell, 0, name, f"use `{name}` as a value", LOOKUP)
            else:
                self._check_attribute_builtin(call, cell)
        if PICKLE_WORD.search(name):
            self._report(node, cell, 0, name, f"use `{name}`", PICKLE)
        elif IMPORT_WORD.search(name):
            self._report(node, cell, 0, name, f"use `{name}`", BY_NAME)

    def _check_attribute(self, node, cell):
        attr = node.attr
        if any(self._path_problems(path) for path in self._resolve(node)):
            # a named path already refused (``os.fork``): say it once, by its full name
            self._check_chain(node, cell)
            return
        if DUNDER.match(attr) and attr not in DUNDER_ATTRIBUTES_ALLOWED:
            parent = self.parents.get(node)
            if not (attr == "__class__" and isinstance(parent, ast.Attribute)
                    and parent.attr in ("__name__", "__qualname__")):
                self._report(node, cell, 0, attr, f"use `.{attr}`", DUNDER_WHY)
        if attr in DANGEROUS_ATTRIBUTES:
            self._report(node, cell, 0, attr, f"use `.{attr}`", DANGEROUS_ATTRIBUTES[attr])
        if PICKLE_WORD.search(attr):
            self._report(node, cell, 0, attr, f"use `.{attr}`", PICKLE)
        elif IMPORT_WORD.search(attr):
            self._report(node, cell, 0, attr, f"use `.{attr}`", BY_NAME)
        self._check_chain(node, cell)

    def _check_chain(self, node, cell):
        """Rules on a whole ``a.b.c`` chain, checked once at its outermost part."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        paths = self._resolve(node)
        if not paths:
            # an object this check cannot name (a call's result, an item, a parameter):
            # its attributes may still not be forbidden classes
            current = node
            while isinstance(current, ast.Attribute):
                if current.attr in self.class_names or current.attr in self.kit_classes:
                    self._report(current, cell, 0, current.attr, f"use `.{current.attr}`",
                                 OWN if current.attr in self.class_names else KIT)
                current = current.value
            return
        for path in sorted(paths):
            self._check_path(node, cell, path)
            if self._module_path(node, path) and isinstance(getattr(node, "ctx", None),
                                                            ast.Load):
                self._check_module_value(node, cell, path)
            if path.startswith("keras.") and path.endswith(".get"):
                self._check_keras_get(node, cell, path)
            elif path.startswith("keras."):
                self._check_config_arguments(node, cell, path)
            if isinstance(node, ast.Attribute):
                self._check_module_attribute(node, cell, path)
            if (path == "numpy.load" or path.endswith("npyio.load")) and \
                    (call := _call_of(node, self.parents)) is not None and \
                    (len(call.args) > 2 or any(k.arg is None for k in call.keywords)):
                self._report(node, cell, 0, path, f"call `{path}` with allow_pickle", PICKLE)

    def _check_module_value(self, node, cell, path):
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        if isinstance(parent, ast.Assign) and parent.value is node and all(
                isinstance(t, ast.Name) for t in parent.targets):
            return  # an alias, followed by _collect_aliases
        if isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.value is node and \
                isinstance(parent.target, ast.Name):
            return
        if isinstance(parent, ast.Call) and node in parent.args[:1] and \
                isinstance(parent.func, ast.Name) and parent.func.id in ATTRIBUTE_BUILTINS and \
                self._literal_attribute(parent) is not None:
            return  # getattr(np, "tanh"): checked as np.tanh
        self._report(node, cell, 0, path, f"use the module `{path}` as a value", MODULE_VALUE)

    def _check_keras_get(self, node, cell, path):
        """``keras.activations.get("tanh")``, or of a variable that surely holds a name:
        given a configuration (a dictionary), Keras builds the class it names."""
        call = _call_of(node, self.parents)
        if call is not None and not call.keywords and all(
                self._config_free(a) for a in call.args):
            return
        self._report(node, cell, 0, path, f"call `{path}` with a configuration", CONFIG)

    def _check_module_attribute(self, node, cell, path):
        """``threading.enumerate = ...`` changes what other code relies on, and
        ``threading._active`` reaches a module's private state."""
        parts = path.split(".")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _is_module(".".join(parts[:-1])):
            self._report(node, cell, 0, path, f"change `{path}`", MODULE_CHANGE)
            return
        for index in range(1, len(parts)):
            if parts[index].startswith("_") and not DUNDER.match(parts[index]) and \
                    _is_module(".".join(parts[:index])):
                shown = ".".join(parts[: index + 1])
                self._report(node, cell, 0, shown, f"use `{shown}`", PRIVATE_NAME)
                return

    def _check_config_arguments(self, node, cell, path):
        """Keras builds the class a dictionary names wherever it takes an activation, an
        initializer, a regularizer or a constraint: ``Activation(config)``,
        ``Dense(3, activation=config)``. Those arguments must surely hold no configuration."""
        call = _call_of(node, self.parents)
        if call is None:
            return
        suspects = [k.value for k in call.keywords if k.arg is None or k.arg in (
            "activation", "recurrent_activation", "identifier") or k.arg.endswith(
            ("initializer", "regularizer", "constraint"))]
        if path.endswith(".Activation"):
            suspects += call.args
        for value in suspects:
            if not (self._config_free(value) or self._resolve(value)):
                self._report(node, cell, 0, path, f"call `{path}` with a configuration",
                             CONFIG)
                return

    # ------------------------------------------------------------ getattr and friends

    def _literal_attribute(self, call):
        """The attribute name of ``getattr(obj, "name")`` when it is a plain literal."""
        if len(call.args) >= 2 and isinstance(call.args[1], ast.Constant) and isinstance(
                call.args[1].value, str) and call.args[1].value.isidentifier() and \
                not DUNDER.match(call.args[1].value):
            return call.args[1].value
        return None

    def _check_attribute_builtin(self, call, cell):
        function = call.func.id
        if any(isinstance(a, ast.Starred) for a in call.args) or call.keywords or \
                len(call.args) < 2:
            self._report(call, cell, 0, function, f"call `{function}` with unpacked arguments",
                         LOOKUP)
            return
        target, literal = call.args[0], self._literal_attribute(call)
        if literal is not None:
            # getattr(x, "name") is x.name: check the chain it stands for
            for path in sorted(self._resolve(target)):
                self._check_path(call, cell, f"{path}.{literal}")
                if function in ("setattr", "delattr") and self._module_path(target, path):
                    self._report(call, cell, 0, f"{path}.{literal}",
                                 f"change `{path}.{literal}`", MODULE_CHANGE)
            if literal in self.class_names or literal in self.kit_classes:
                self._report(call, cell, 0, literal, f"look up `{literal}`",
                             OWN if literal in self.class_names else KIT)
            return
        if function == "hasattr" and not self._resolve(target):
            return  # True or False is all it returns; modules are refused as values
        if not self._is_method_self(call, target):
            shown = ast.unparse(target)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            self._report(call, cell, 0, f"{function}:{shown}",
                         f"call `{function}` on `{shown}`", LOOKUP)
        elif function == "getattr" and not self._name_cannot_be_dunder(call.args[1]):
            self._report(call, cell, 0, "getattr:name",
                         "call `getattr(self, ...)` with a computed name", LOOKUP + (
                             "; write the name as a string or an f-string that starts with "
                             "a letter"))

    def _is_method_self(self, call, target):
        """Whether ``target`` is the ``self`` of the method around ``call``, never rebound."""
        if not (isinstance(target, ast.Name) and target.id == "self"):
            return False
        node = call
        while True:
            node = self.parents.get(node)
            if node is None or isinstance(node, (ast.Module, ast.ClassDef)):
                return False
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(
                    self.parents.get(node), ast.ClassDef):
                break
        decorators_ok = all(
            (isinstance(d, ast.Name) and d.id == "property")
            or (isinstance(d, ast.Attribute) and d.attr in ("setter", "getter", "deleter"))
            for d in node.decorator_list)
        positional = node.args.posonlyargs + node.args.args
        if not decorators_ok or not positional or positional[0].arg != "self":
            return False
        return self._bindings(node, "self") == 1

    @staticmethod
    def _bindings(function, name):
        """How many times ``name`` is bound anywhere inside ``function`` (parameters too)."""
        count = 0
        for node in ast.walk(function):
            if isinstance(node, ast.arg) and node.arg == name:
                count += 1
            elif isinstance(node, ast.Name) and node.id == name and isinstance(
                    node.ctx, (ast.Store, ast.Del)):
                count += 1
            elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                count += 2
            elif isinstance(node, ast.ExceptHandler) and node.name == name:
                count += 1
            elif isinstance(node, ast.alias) and (node.asname or node.name) == name:
                count += 1
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name == name:
                count += 1
            elif isinstance(node, ast.MatchMapping) and node.rest == name:
                count += 1
        return count

    def _name_cannot_be_dunder(self, node):
        """Whether the name argument of ``getattr(self, name)`` surely names no dunder.

        It does when the text it can take is known and none is a double-underscore name:
        a literal, an f-string or sum that starts with a letter, or a variable whose every
        binding is such a text (a loop over literals, a parameter every call passes one).
        """
        prefixes = self._prefixes(node, depth=0)
        return prefixes is not None and all(
            _cannot_be_dunder(text, complete) for text, complete in prefixes)

    def _prefixes(self, node, depth):
        """The texts ``node`` may evaluate to, as ``(text, complete)`` pairs (``complete``
        False: the value only starts with ``text``); None when unknown."""
        if depth > 6:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [(node.value, True)]
        if isinstance(node, (ast.JoinedStr, ast.BinOp)):
            if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Add):
                return None
            first = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else (
                node.left if isinstance(node, ast.BinOp) else None)
            if isinstance(first, ast.FormattedValue):
                if first.format_spec is not None or first.conversion != -1:
                    return None
                first = first.value
            if first is None:
                return None
            heads = self._prefixes(first, depth + 1)
            if heads is None:
                return None
            # a known head followed by anything: only the head is sure
            return [(text, False) for text, _ in heads]
        if isinstance(node, ast.Name):
            return self._name_values(node.id, depth + 1)
        return None

    def _name_values(self, name, depth):
        """The texts variable ``name`` may hold, from every place that binds it (None:
        unknown). Flow-insensitive: a binding anywhere counts."""
        if depth > 6:
            return None
        values, bound = [], False
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                found = None
                if isinstance(node, ast.Name) and node.id == name and isinstance(
                        node.ctx, (ast.Store, ast.Del)):
                    found = self._stored_values(node, name, depth)
                elif isinstance(node, ast.arg) and node.arg == name:
                    found = self._parameter_values(node, depth)
                elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                    found = None
                elif isinstance(node, ast.ExceptHandler) and node.name == name:
                    found = None
                elif isinstance(node, ast.alias) and (node.asname or node.name) == name:
                    found = None
                elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name == name:
                    found = None
                elif isinstance(node, ast.MatchMapping) and node.rest == name:
                    found = None
                else:
                    continue
                if found is None:
                    return None
                values += found
                bound = True
        return values if bound else None

    def _stored_values(self, node, name, depth):
        parent = self.parents.get(node)
        target = node
        while isinstance(parent, (ast.Tuple, ast.List)):
            target, parent = parent, self.parents.get(parent)
        if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and \
                parent.target is target:
            return self._loop_values(parent.target, parent.iter, name, depth)
        if isinstance(parent, ast.Assign) and target is node and \
                isinstance(parent.value, ast.Constant) and isinstance(parent.value.value, str):
            return [(parent.value.value, True)]
        return None

    def _parameter_values(self, arg, depth):
        """The texts a parameter may hold: its default and what every call passes."""
        sources = self._parameter_sources(arg)
        if not sources:
            return None
        values = []
        for source in sources:
            found = self._prefixes(source, depth + 1)
            if found is None:
                return None
            values += found
        return values

    def _parameter_sources(self, arg):
        """The expressions that may flow into parameter ``arg``: its default and the value
        every call in the cells passes (None when some call cannot be seen).

        The function must be called only by name (``helper("W")``, ``self.helper("W")``;
        for ``__init__``, ``ClassName(...)``), never passed around, so that every call is
        visible here; the grader's probe passes only the arguments the contract names.
        """
        arguments = self.parents.get(arg)
        function = self.parents.get(arguments)
        if not isinstance(arguments, ast.arguments) or not isinstance(
                function, (ast.FunctionDef, ast.AsyncFunctionDef)) or \
                arg is arguments.vararg or arg is arguments.kwarg:
            return None
        positional = arguments.posonlyargs + arguments.args
        owner = self.parents.get(function)
        method = isinstance(owner, ast.ClassDef)
        if arg in positional:
            index = positional.index(arg)
            default_at = index - (len(positional) - len(arguments.defaults))
            default = arguments.defaults[default_at] if default_at >= 0 else None
        else:
            index = None
            default = arguments.kw_defaults[arguments.kwonlyargs.index(arg)]
        if method and index == 0:
            return None
        constructor = method and function.name == "__init__"
        if constructor and any(isinstance(b, ast.Name) and b.id == owner.name
                               for tree, _ in self.trees for n in ast.walk(tree)
                               if isinstance(n, ast.ClassDef) for b in n.bases):
            return None  # a subclass's super().__init__ passes what this check cannot see
        callee = owner.name if constructor else function.name
        sources = [default] if default is not None else []
        for tree, _ in self.trees:
            for node in ast.walk(tree):
                refers = (isinstance(node, ast.Name) and node.id == callee) or (
                    isinstance(node, ast.Attribute) and node.attr == callee)
                if constructor and isinstance(node, ast.Attribute) and node.attr == "__init__":
                    value = node.value
                    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                            and value.func.id == "super"):
                        return None  # ClassName.__init__(obj, ...) by hand
                    continue
                if not refers or isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
                    continue
                if constructor and isinstance(self.parents.get(node), ast.ClassDef):
                    continue  # the class statement itself
                call = _call_of(node, self.parents)
                if call is None:
                    if constructor and self._class_use_is_harmless(node):
                        continue
                    return None  # passed around: its calls cannot all be seen
                if method and not constructor and not (
                        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id == "self"):
                    return None  # only self.helper(...) binds self as the instance
                if any(isinstance(a, ast.Starred) for a in call.args) or any(
                        k.arg is None for k in call.keywords):
                    return None
                passed = None
                if index is not None:
                    position = index - 1 if method else index
                    if position < len(call.args):
                        passed = call.args[position]
                for keyword in call.keywords:
                    if keyword.arg == arg.arg:
                        passed = keyword.value
                if passed is None:
                    if default is None:
                        return None
                    continue
                sources.append(passed)
        return sources

    def _class_use_is_harmless(self, node):
        """A class name used other than called: isinstance(x, C), super(C, self), a base."""
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and \
            parent.func.id in ("isinstance", "issubclass", "super") and node in parent.args

    def _config_free(self, node, depth=0):
        """Whether ``node`` surely holds no Keras configuration (a dictionary naming a class):
        a constant, or a variable or ``self.x`` every binding of which is config-free."""
        if depth > 6:
            return False
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Call):
            # an object Keras makes (keras.initializers.GlorotUniform()), not a dictionary
            return any(p.startswith("keras.") and "serializ" not in p and "config" not in p
                       for p in self._resolve(node.func))
        if isinstance(node, ast.Name):
            bound = False
            for tree, _ in self.trees:
                for other in ast.walk(tree):
                    if isinstance(other, ast.arg) and other.arg == node.id:
                        sources = self._parameter_sources(other)
                        if sources is None or not all(
                                self._config_free(s, depth + 1) for s in sources):
                            return False
                        bound = True
                    elif isinstance(other, ast.Name) and other.id == node.id and isinstance(
                            other.ctx, (ast.Store, ast.Del)):
                        assign = self.parents.get(other)
                        if not (isinstance(assign, ast.Assign) and other in assign.targets
                                and self._config_free(assign.value, depth + 1)):
                            return False
                        bound = True
            return bound
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "self":
            for tree, _ in self.trees:
                for other in ast.walk(tree):
                    if isinstance(other, ast.Attribute) and other.attr == node.attr and \
                            isinstance(other.ctx, (ast.Store, ast.Del)):
                        assign = self.parents.get(other)
                        if not (isinstance(assign, ast.Assign) and other in assign.targets
                                and self._config_free(assign.value, depth + 1)):
                            return False
                    elif isinstance(other, ast.Call) and isinstance(other.func, ast.Name) and \
                            other.func.id in ("setattr", "delattr") and not (
                                len(other.args) > 1 and isinstance(other.args[1], ast.Constant)
                                and other.args[1].value != node.attr):
                        return False  # setattr(self, name, ...) might set it
            return True
        return False

    def _loop_values(self, target, iterable, name, depth):
        """The texts ``name`` takes in ``for target in iterable`` (None: unknown)."""
        items = self._literal_items(iterable, depth)
        if items is None:
            return None
        if isinstance(target, ast.Name):
            if isinstance(iterable, ast.Constant):
                return [(c, True) for c in iterable.value]
            out = []
            for item in items:
                if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                    return None
                out.append((item.value, True))
            return out
        if not isinstance(target, (ast.Tuple, ast.List)) or any(
                not isinstance(t, ast.Name) for t in target.elts):
            return None
        positions = [i for i, t in enumerate(target.elts) if t.id == name]
        out = []
        for item in items:
            if not isinstance(item, (ast.Tuple, ast.List)) or len(item.elts) != len(target.elts):
                return None
            for i in positions:
                element = item.elts[i]
                if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                    return None
                out.append((element.value, True))
        return out

    def _literal_items(self, iterable, depth):
        """The items of a literal sequence: a string, a tuple or list written out, or a name
        (or ``self.NAME``) bound only to one. None when unknown."""
        if isinstance(iterable, ast.Constant) and isinstance(iterable.value, str):
            return [ast.Constant(c) for c in iterable.value]
        if isinstance(iterable, (ast.Tuple, ast.List, ast.Set)):
            return list(iterable.elts)
        if depth > 6:
            return None
        if isinstance(iterable, ast.Name):
            key = iterable.id
            stores = [n for tree, _ in self.trees for n in ast.walk(tree)
                      if isinstance(n, ast.Name) and n.id == key
                      and isinstance(n.ctx, (ast.Store, ast.Del))]
            others = [n for tree, _ in self.trees for n in ast.walk(tree)
                      if isinstance(n, ast.arg) and n.arg == key]
        elif isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name) and \
                iterable.value.id == "self":
            key = iterable.attr
            # a class attribute written out in a class body, never assigned elsewhere
            stores = [n for tree, _ in self.trees for n in ast.walk(tree)
                      if isinstance(n, ast.Name) and n.id == key
                      and isinstance(n.ctx, (ast.Store, ast.Del))
                      and isinstance(self.parents.get(self.parents.get(n)), ast.ClassDef)]
            others = [n for tree, _ in self.trees for n in ast.walk(tree)
                      if (isinstance(n, ast.Attribute) and n.attr == key
                          and isinstance(n.ctx, (ast.Store, ast.Del)))
                      or (isinstance(n, ast.Name) and n.id == key
                          and isinstance(n.ctx, (ast.Store, ast.Del)) and n not in stores)]
        else:
            return None
        if len(stores) != 1 or others:
            return None
        assign = self.parents.get(stores[0])
        if not isinstance(assign, ast.Assign) or assign.targets != [stores[0]]:
            return None
        return self._literal_items(assign.value, depth + 1)

    # ------------------------------------------------------------ strings

    def _check_string(self, node, cell):
        parent = self.parents.get(node)
        if isinstance(parent, ast.Expr):
            return  # a docstring or a bare string: it does nothing
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and \
                parent.func.id == "hasattr" and parent.args[1:2] == [node]:
            return  # hasattr(x, "__len__") only answers True or False
        value = node.value
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        stripped = text.strip()
        why = None
        if re.search(r"\bcourse_kit\b", text):
            why = STRING
        elif "keras.src" in text or "keras._tf_keras" in text:
            why = STRING
        elif any(prefix in text for prefix in self.forbidden):
            why = STRING
        elif stripped in self.class_names or (stripped in self.ancestors and "." in stripped):
            why = STRING
        elif stripped in CONFIG_KEYS:
            why = CONFIG
        elif any(m not in DUNDER_STRINGS_ALLOWED for m in DUNDER_IN_TEXT.findall(text)):
            why = STRING
        if why:
            shown = text if len(text) <= 40 else text[:37] + "..."
            self._report(node, cell, 0, f"'{text}'", f"contain the string {shown!r}", why)
