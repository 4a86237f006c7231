"""The analysis app depends on nothing of the tracks app (tracks -> analysis is the allowed
direction): no module of analysis/ imports tracks, at its top or inside a function."""

import ast
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def imported_modules(source: str) -> set[str]:
    """Every absolute module name an import statement of `source` names."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_analysis_imports_tracks():
    offenders = {
        str(path.relative_to(ANALYSIS.parent)): sorted(name for name in imported_modules(path.read_text())
                                                       if name == "tracks" or name.startswith("tracks."))
        for path in sorted(ANALYSIS.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_imports_at_the_top_and_inside_functions():
    source = "import tracks.store\ndef f():\n    from tracks.lua import FIELD_LENGTHS\n"
    assert imported_modules(source) == {"tracks.store", "tracks.lua"}
