"""The shipped systemd units run exactly the commands the production tests exercise."""

from __future__ import annotations

import configparser
from pathlib import Path

from osvi_cli.production import Role

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def test_one_unit_per_role_each_restarted_and_hardened() -> None:
    units = sorted(UNITS.glob("osvi-*.service"))
    assert {unit.stem.removeprefix("osvi-") for unit in units} == {str(r) for r in Role}
    for unit in units:
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(unit)
        service = parser["Service"]
        role = unit.stem.removeprefix("osvi-")
        assert service["ExecStart"].endswith(f"/osvi up --production --only {role}")
        assert service["Restart"] == "always"
        assert service["EnvironmentFile"] == "/etc/osvi/osvi.env"
        assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"
        assert parser["Install"]["WantedBy"] == "multi-user.target"
