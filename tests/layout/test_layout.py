"""Layout contract: the operator source folder must never become a package named `operator`."""

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_folder_is_not_a_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_stdlib_operator_module_is_not_shadowed() -> None:
    mod = importlib.import_module("operator")
    assert Path(mod.__file__ or "").parent != ROOT / "operator"
    assert hasattr(mod, "itemgetter")


def test_packages_import_from_their_source_folders() -> None:
    for name, folder in [
        ("agent_supervisor", "operator/agent_supervisor"),
        ("agent_runtime", "agent_image/agent_runtime"),
        ("localcluster", "localcluster"),
    ]:
        mod = importlib.import_module(name)
        assert Path(mod.__file__ or "").parent == ROOT / folder, name
    assert "operator" in sys.stdlib_module_names
