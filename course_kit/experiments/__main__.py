import argparse
import importlib
import pkgutil

import course_kit.experiments as package


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m course_kit.experiments",
        description="Reproduce the curriculum's experiments; each writes CSV tables and PNG figures.",
    )
    subparsers = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
