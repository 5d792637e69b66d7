"""R1–R7: each rule has a case that passes only because the rule is enforced."""
from __future__ import annotations

from datetime import date

import pytest

from ivr400.compliance.names import name_key, same_owner
from ivr400.compliance.rules import DestinationFacts, EnterpriseFacts, EvidenceFacts, evaluate

TODAY = date(2026, 6, 1)
ENT = EnterpriseFacts(name="北京甲科技有限公司", area_code="010", city="北京")
LANDLINE = DestinationFacts(number="01062345678", kind="landline", area_code="010", city="北京",
                            owner_name="北京甲科技有限公司", owner_kind="company")
BILL = EvidenceFacts(kind="carrier_bill", media_type="image/jpeg",
                     attributes={"issuer": "telecom", "shows_number": True, "shows_owner": True})
COMPANY_LETTER = EvidenceFacts(kind="authorization_letter", media_type="application/pdf",
                               attributes={"sealed_by_owner": True, "sealed_by_enterprise": True,
                                           "relationship": "关联公司"}, valid_until=date(2027, 1, 1))
PERSON_LETTER = EvidenceFacts(kind="authorization_letter", media_type="image/png",
                              attributes={"signed_by_person": True, "sealed_by_enterprise": True,
                                          "relationship": "员工"}, long_term=True)
ID_DOC = EvidenceFacts(kind="id_document", media_type="image/png", attributes={}, long_term=True)
LICENCE = EvidenceFacts(kind="branch_licence", media_type="application/pdf", attributes={}, long_term=True)
LEASE = EvidenceFacts(kind="office_lease", media_type="application/pdf", attributes={},
                      valid_from=date(2026, 1, 1), valid_until=date(2026, 12, 31))


def check(dest=LANDLINE, evidence=(BILL,), carriers=None, today=TODAY):  # noqa: ANN001, ANN201
    return evaluate(ENT, dest, {"telecom": False} if carriers is None else carriers, list(evidence), today)


def failing(result) -> set[str]:  # noqa: ANN001
    return {item.rule for item in result.missing}


def test_self_owned_local_landline_with_a_bill_passes_long_term() -> None:
    result = check()
    assert result.ok, result.missing
    assert result.long_term and result.valid_until is None


# R1 -------------------------------------------------------------------------------------------
MOBILE = DestinationFacts(number="13800138000", kind="mobile", area_code=None, city="北京",
                          owner_name="北京甲科技有限公司", owner_kind="company")


def test_r1_mobile_refused_where_the_carrier_forbids_it() -> None:
    assert failing(check(MOBILE)) == {"R1"}


def test_r1_mobile_accepted_where_a_carrier_of_the_enterprise_allows_it() -> None:
    assert check(MOBILE, carriers={"telecom": False, "unicom": True}).ok


def test_r1_mobile_refused_when_the_enterprise_has_no_hotline() -> None:
    assert failing(check(MOBILE, carriers={})) == {"R1"}


# R2 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("owner", ["北京甲科技有限公司北京分公司", "北京甲科技（集团）有限公司", "北京乙科技有限公司"])
def test_r2_other_company_owner_without_authorization_is_refused(owner: str) -> None:
    dest = DestinationFacts(**{**LANDLINE.__dict__, "owner_name": owner})
    assert {"R2", "R4"} <= failing(check(dest))


@pytest.mark.parametrize("typed", ["北京甲科技有限公司 ", "北京甲科技有限公司", " 北京 甲科技有限公司"])
def test_r2_same_name_after_normalisation_needs_no_authorization(typed: str) -> None:
    dest = DestinationFacts(**{**LANDLINE.__dict__, "owner_name": typed})
    assert check(dest).ok


def test_name_key_folds_width_brackets_and_spaces_but_not_affiliates() -> None:
    assert same_owner("ＡＢＣ（北京）有限公司", "abc(北京) 有限公司")
    assert same_owner("甲公司【北京】", "甲公司(北京)")
    assert not same_owner("甲公司", "甲公司分公司")
    assert name_key("Ａ　Ｂ") == "ab"


# R3 -------------------------------------------------------------------------------------------
def test_r3_no_real_name_evidence_is_refused() -> None:
    assert failing(check(evidence=())) == {"R3"}


@pytest.mark.parametrize("change", [
    {"attributes": {"issuer": "某代理商", "shows_number": True, "shows_owner": True}},
    {"attributes": {"issuer": "telecom", "shows_owner": True}},
    {"attributes": {"issuer": "telecom", "shows_number": True}},
    {"attributes": {"issuer": "telecom", "shows_number": True, "shows_owner": True, "owner_name": "别的公司"}},
    {"media_type": "text/plain"},
    {"kind": "office_lease"},
])
def test_r3_evidence_must_be_a_carrier_document_showing_number_and_owner(change: dict) -> None:
    bad = EvidenceFacts(**{**BILL.__dict__, **change})
    assert failing(check(evidence=[bad])) == {"R3"}


@pytest.mark.parametrize("issuer", ["telecom", "unicom", "mobile", "tietong"])
def test_r3_any_of_the_three_carriers_incl_tietong(issuer: str) -> None:
    ok = EvidenceFacts(**{**BILL.__dict__, "attributes": {**BILL.attributes, "issuer": issuer}})
    assert check(evidence=[ok]).ok


# R4 -------------------------------------------------------------------------------------------
AFFILIATE = DestinationFacts(**{**LANDLINE.__dict__, "owner_name": "北京乙科技有限公司"})


def test_r4_company_owner_with_a_letter_sealed_by_both_passes_until_its_end() -> None:
    result = check(AFFILIATE, [BILL, COMPANY_LETTER])
    assert result.ok, result.missing
    assert result.valid_until == date(2027, 1, 1) and not result.long_term


@pytest.mark.parametrize("drop", ["sealed_by_owner", "sealed_by_enterprise", "relationship"])
def test_r4_letter_missing_a_seal_or_the_relationship_is_refused(drop: str) -> None:
    attrs = {k: v for k, v in COMPANY_LETTER.attributes.items() if k != drop}
    letter = EvidenceFacts(**{**COMPANY_LETTER.__dict__, "attributes": attrs})
    assert failing(check(AFFILIATE, [BILL, letter])) == {"R2", "R4"}


# R5 -------------------------------------------------------------------------------------------
PERSON = DestinationFacts(**{**LANDLINE.__dict__, "owner_name": "张三", "owner_kind": "person"})


def test_r5_person_with_signed_letter_and_id_passes() -> None:
    assert check(PERSON, [BILL, PERSON_LETTER, ID_DOC]).ok


def test_r5_person_without_id_document_is_refused() -> None:
    assert failing(check(PERSON, [BILL, PERSON_LETTER])) == {"R2", "R5"}


@pytest.mark.parametrize("drop", ["signed_by_person", "sealed_by_enterprise", "relationship"])
def test_r5_letter_must_be_signed_sealed_and_state_the_relation(drop: str) -> None:
    attrs = {k: v for k, v in PERSON_LETTER.attributes.items() if k != drop}
    letter = EvidenceFacts(**{**PERSON_LETTER.__dict__, "attributes": attrs})
    assert failing(check(PERSON, [BILL, letter, ID_DOC])) == {"R2", "R5"}


def test_r5_a_company_letter_does_not_cover_a_person() -> None:
    assert "R5" in failing(check(PERSON, [BILL, COMPANY_LETTER, ID_DOC]))


# R6 -------------------------------------------------------------------------------------------
SHANGHAI = DestinationFacts(**{**LANDLINE.__dict__, "number": "02161234567", "area_code": "021", "city": "上海"})


def test_r6_other_city_without_branch_proof_is_refused() -> None:
    assert failing(check(SHANGHAI)) == {"R6"}


@pytest.mark.parametrize("evidence", [[BILL, LICENCE], [BILL, LEASE]])
def test_r6_needs_both_licence_and_lease(evidence: list) -> None:
    assert failing(check(SHANGHAI, evidence)) == {"R6"}


def test_r6_other_city_with_licence_and_lease_passes_within_the_lease() -> None:
    result = check(SHANGHAI, [BILL, LICENCE, LEASE])
    assert result.ok and result.valid_until == date(2026, 12, 31)


def test_r6_mobile_from_another_city_needs_branch_proof() -> None:
    mobile_sh = DestinationFacts(**{**MOBILE.__dict__, "city": "上海"})
    assert failing(check(mobile_sh, carriers={"telecom": True})) == {"R6"}


def test_r6_unknown_region_counts_as_another_city() -> None:
    unknown = DestinationFacts(**{**MOBILE.__dict__, "city": None})
    assert failing(check(unknown, carriers={"telecom": True})) == {"R6"}


# R7 -------------------------------------------------------------------------------------------
def test_r7_letter_without_validity_is_refused() -> None:
    undated = EvidenceFacts(**{**COMPANY_LETTER.__dict__, "valid_until": None, "long_term": False})
    assert failing(check(AFFILIATE, [BILL, undated])) == {"R7"}


def test_r7_expired_authorization_is_refused() -> None:
    assert failing(check(AFFILIATE, [BILL, COMPANY_LETTER], today=date(2027, 1, 2))) == {"R7"}


def test_r7_window_is_the_intersection_of_the_documents_relied_on() -> None:
    dest = DestinationFacts(**{**AFFILIATE.__dict__, "number": "02161234567", "area_code": "021", "city": "上海"})
    result = check(dest, [BILL, COMPANY_LETTER, LICENCE, LEASE])
    assert result.ok
    assert (result.valid_from, result.valid_until) == (date(2026, 1, 1), date(2026, 12, 31))


def test_r7_non_overlapping_windows_are_refused() -> None:
    late = EvidenceFacts(**{**LEASE.__dict__, "valid_from": date(2027, 2, 1), "valid_until": date(2027, 12, 31)})
    dest = DestinationFacts(**{**AFFILIATE.__dict__, "number": "02161234567", "area_code": "021", "city": "上海"})
    assert failing(check(dest, [BILL, COMPANY_LETTER, LICENCE, late])) == {"R7"}


def test_everything_missing_is_listed_at_once() -> None:
    dest = DestinationFacts(number="13912345678", kind="mobile", area_code=None, city="上海", owner_name="李四",
                            owner_kind="person")
    assert failing(check(dest, evidence=())) == {"R1", "R2", "R3", "R5", "R6"}
