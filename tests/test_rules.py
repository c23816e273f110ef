"""The rules file: parsing, every validation error naming its key, storage and versions."""

from __future__ import annotations

import pytest

from crmpool.errors import InputError
from crmpool.rules import check_rules, default_rules, parse_rules

GOOD = """
[limits]
cap = 100

[[reclaim]]
name = "no-contact"
idle_days = 30
levels = ["B", "C"]
warn_days = 5
keep_won = true

[[reclaim]]
name = "no-deal"
no_deal_days = 90

[[reclaim]]
name = "small-contract"
min_amount = 10000.50
within_days = 180
to_pool = "key-accounts"
"""


def test_a_good_file_parses_into_typed_rules():
    rules = parse_rules(GOOD, "rules.toml", {"public", "key-accounts"})
    assert rules.limits.cap == 100 and rules.limits.claims_per_day == 20
    names = [(r.name, r.trigger, r.days) for r in rules.reclaim]
    assert names == [("no-contact", "idle", 30), ("no-deal", "no_deal", 90),
                     ("small-contract", "small_contract", 180)]
    assert rules.reclaim[0].scopes == {"levels": ("B", "C")}
    assert rules.reclaim[2].min_amount_cents == 1000050
    assert len(rules.fingerprint) == 12


@pytest.mark.parametrize("body, key", [
    ('[[reclaim]]\nname = "x"\nlevels = ["A"]', "needs exactly one trigger"),
    ('[[reclaim]]\nname = "x"\nidle_days = 3\nno_deal_days = 4', "found: idle_days, no_deal"),
    ('[[reclaim]]\nname = "x"\nidle_days = 0', "reclaim[1] (x).idle_days"),
    ('[[reclaim]]\nname = "x"\nidle_days = -3', "reclaim[1] (x).idle_days"),
    ('[[reclaim]]\nname = "x"\nidle_days = 30\nwarn_days = 30', "reclaim[1] (x).warn_days"),
    ('[[reclaim]]\nname = "x"\nidle_days = 30\ncolour = "red"', "reclaim[1] (x).colour: unknown"),
    ('[[reclaim]]\nname = "x"\nmin_amount = 5', "within_days"),
    ('[[reclaim]]\nname = "x"\nmin_amount = -5\nwithin_days = 9', "min_amount"),
    ('[[reclaim]]\nidle_days = 30', "reclaim[1].name"),
    ('[[reclaim]]\nname = "x"\nidle_days = 3\n[[reclaim]]\nname = "x"\nidle_days = 4',
     "a second rule has this name"),
    ('[[reclaim]]\nname = "x"\nidle_days = 3\nlevels = "A"', "reclaim[1] (x).levels"),
    ('[limits]\ncapp = 3', "limits.capp: unknown key"),
    ('[limits]\ncap = -1', "limits.cap"),
    ('[limits]\ncap_counts_won = "no"', "limits.cap_counts_won"),
    ('[other]\nx = 1', "other: unknown key"),
    ('[[reclaim]]\nname = "x"\nidle_days = 3\nto_pool = "nowhere"', "to_pool: no pool named"),
    ("[limits\ncap = 1", "not valid TOML"),
])
def test_each_bad_rules_file_names_the_key(body, key):
    rules, problems = check_rules(body, {"public"})
    assert rules is None
    assert any(key in p for p in problems), problems
    with pytest.raises(InputError) as caught:
        parse_rules(body, "team.toml", {"public"})
    assert "team.toml" in str(caught.value)


def test_defaults_have_limits_and_no_reclaim_rules():
    assert default_rules().reclaim == ()
    assert default_rules().limits.cooldown_days == 30


def test_scope_values_reach_sql_as_parameters():
    rules = parse_rules('[[reclaim]]\nname = "x"\nidle_days = 3\n'
                        'regions = ["北京\'; DROP TABLE customers; --"]', "t")
    sql, params = rules.reclaim[0].scope_sql()
    assert "DROP" not in sql and params == ["北京'; DROP TABLE customers; --"]


def test_rules_check_set_show_and_versions(cli, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    result = cli("rules", "check", str(path))
    assert result.exit_code == 3 and "to_pool: no pool named 'key-accounts'" in result.stderr
    assert cli("pool", "add", "key-accounts").exit_code == 0
    assert cli("rules", "check", str(path)).exit_code == 0
    assert cli("rules", "set", str(path), as_user="wang").exit_code == 4
    assert cli("rules", "set", str(path)).exit_code == 0
    shown = cli("rules", "show", "-f", "json")
    assert '"no-contact"' in shown.stdout
    assert "idle_days = 30" in cli("rules", "show", "-f", "table").stdout
    path.write_text(GOOD.replace("cap = 100", "cap = 90"))
    assert cli("rules", "set", str(path)).exit_code == 0
    versions = cli.rows("rules", "versions")
    assert [v["version"] for v in versions] == [2, 1]
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\ncap = 'many'\n")
    result = cli("rules", "set", str(bad))
    assert result.exit_code == 3 and "limits.cap" in result.stderr
    assert len(cli.rows("rules", "versions")) == 2
    result = cli("rules", "check", "-", input=GOOD)
    assert result.exit_code == 0
