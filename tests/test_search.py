"""Search (公共检索) finds the right customer: names by folded substring, phones only for phone
fragments, e-mails only with @, company ids only when shaped like one; exact, then prefix,
then substring. And duplicate checks fold a parenthesised place."""

from __future__ import annotations

import pytest
from conftest import add_customers

from crmpool.normalize import name_key

CUSTOMERS = [
    {"name": "北京星辰科技有限公司", "phone": "13800000001", "region": "北京"},
    {"name": "湖北九州通医药", "phone": "13912345678", "region": "湖北"},
    {"name": "重庆山城火锅连锁有限公司", "phone": "13711110000"},
    {"name": "ＡＢＣ贸易有限公司", "email": "info@abc-trade.cn"},
    {"name": "星辰", "phone": "13600000002"},
    {"name": "星辰物流", "company_id": "91110105MA01ABCD1X"},
]


@pytest.fixture
def found(cli, conn):
    add_customers(conn, CUSTOMERS)

    def search(text: str) -> list[str]:
        return [r["name"] for r in cli.rows("list", "--search", text)]

    return search


def test_names_match_by_folded_substring(found):
    assert found("ABC") == ["ＡＢＣ贸易有限公司"]
    assert found("abc 贸易") == ["ＡＢＣ贸易有限公司"]  # every word must match
    assert found("星辰科技") == ["北京星辰科技有限公司"]
    assert found("湖北91bf") == []


def test_digits_in_a_name_are_not_a_phone(found):
    assert found("火锅1") == []
    assert found("1111") == ["重庆山城火锅连锁有限公司"]  # a phone fragment, four digits
    assert found("139 1234") == ["湖北九州通医药"]
    assert found("+86 138 0000 0001") == ["北京星辰科技有限公司"]


def test_emails_and_company_ids_only_when_shaped_so(found):
    assert found("@abc-trade") == ["ＡＢＣ贸易有限公司"]
    assert found("abc-trade.cn") == []
    assert found("91110105ma01abcd1x") == ["星辰物流"]


def test_exact_then_prefix_then_substring(found):
    assert found("星辰") == ["星辰", "星辰物流", "北京星辰科技有限公司"]


def test_a_parenthesised_place_is_folded_for_duplicates(cli, conn):
    assert name_key("北京星辰科技（北京）有限公司") == name_key("北京星辰科技有限公司")
    assert name_key("Acme (Asia) Ltd") == name_key("Acme Ltd")
    assert name_key("(北京)") == "北京"  # nothing but a qualifier: kept
    add_customers(conn, [{"name": "北京星辰科技有限公司", "owner": "li"}])
    refused = cli("add", "北京星辰科技（北京）有限公司", as_user="zhang")
    assert refused.exit_code == 4 and "li" in refused.stderr


def test_invalid_customers_are_nobodys_duplicate_in_add_and_import(cli, conn, tmp_path):
    add_customers(conn, [{"name": "Dead Co", "phone": "13800000009", "status": "invalid"}])
    assert cli("add", "Dead Co", "--phone", "13800000009", as_user="li").exit_code == 0
    path = tmp_path / "c.csv"
    path.write_text("name,phone\nDead Co,13800000009\n")
    result = cli("import", str(path), "-f", "json")
    import json

    assert json.loads(result.stdout)["duplicates_skipped"] == 1  # li's new one, not the dead
