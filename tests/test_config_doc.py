"""docs/configuration.md is generated from the parameter table and must stay in step."""

from __future__ import annotations

from hypercache import configdoc
from hypercache.configtable import PARAMS, YAML_KEYS
from tests.support import REPO


def test_configuration_page_is_up_to_date():
    page = (REPO / "docs" / "configuration.md").read_text()
    assert page == configdoc.render(), "run: python -m hypercache.configdoc > docs/configuration.md"


def test_every_key_and_flag_is_documented():
    page = configdoc.render()
    for path in YAML_KEYS:
        assert f"| `{path}` |" in page
    for name in PARAMS:
        assert f"`--{name}`" in page
