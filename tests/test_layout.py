"""The layout contract: the root holds the user's entry points, the package's layers import one way."""
import ast

from conftest import ROOT

ROOT_MODULES = {"core", "experiments", "experiment_definitions", "experiment_utils", "cpu_optimization_utils"}
# Lower layers never import higher ones: submit -> studies -> running -> training -> validate -> models, data -> base.
LAYER_RANK = {"config": 0, "counting": 0, "status": 0, "results_layout": 0, "migration": 0, "models": 1, "data": 1,
              "validate": 2, "training": 3, "running": 4, "studies": 5, "submit": 6}


def package_modules():
    return sorted(p for p in (ROOT / "scaling_laws").rglob("*.py"))


def imported_names(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def layer_of(parts: tuple[str, ...]) -> str:
    return parts[1].removesuffix(".py") if len(parts) > 1 else "config"


def test_root_holds_only_the_entry_points():
    assert {p.stem for p in ROOT.glob("*.py")} == ROOT_MODULES


def test_every_package_module_says_what_it_owns():
    for path in package_modules():
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)} has no docstring"


def test_the_package_never_imports_the_root_and_layers_import_downwards():
    for path in package_modules():
        own = layer_of(path.relative_to(ROOT).parts)
        for name in imported_names(path):
            top = name.split(".")[0]
            assert top not in ROOT_MODULES, f"{path.relative_to(ROOT)} imports the root module {name}"
            if top == "scaling_laws" and "." in name:
                other = name.split(".")[1]
                assert LAYER_RANK[other] <= LAYER_RANK[own], f"{path.relative_to(ROOT)} ({own}) imports {name} ({other})"
