"""Call records from CDRs, pure: recorded Asterisk 22 Cdr events and cdr_custom lines → legs → calls.

The fixtures were recorded on the lab (Asterisk 22.10, the shipped cdr_manager/cdr_custom mappings):
call A hunts busy → ring-no-answer → answered; B answers in the IVR and the caller hangs up at the
menu; C rings two seats at once (key path 2-1); D rings out and goes to voicemail.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ivr400.cdr.cdr_model import (
    CSV_COLUMNS,
    CSV_FORMAT,
    CSV_LAYOUTS,
    DECIDED_BY,
    DISPOSITIONS,
    EVENT_HEADERS,
    MISSED_DISPOSITIONS,
    PACKED_COLUMNS,
    Call,
    CdrParseError,
    Leg,
    aggregate,
    call_from_legs,
    cdr_custom_mapping,
    cdr_manager_mappings,
    leg_from_csv_row,
    leg_from_event,
    merge_calls,
    parse_csv_text,
    seat_label,
)
from ivr400.deploy.asterisk import cdr_include_files
from ivr400.lab.config import NOLOAD, LabConfig, render_base_config
from ivr400.pbx.asterisk.dialplan_variables import CDR_CALL

SEAT1 = "PJSIP/pstn/sip:seat@127.0.0.1:5071"


def _event(**kw: str) -> dict[str, str]:
    base = {
        "Event": "Cdr", "Privilege": "cdr,all", "AccountCode": "", "Source": "075512345678",
        "DestinationContext": "ivr400-inbound", "CallerID": '"" <075512345678>', "AMAFlags": "DOCUMENTATION",
        "UserField": "", "IVR400Hotline": "4008001234", "IVR400Keys": "", "IVR400Dept": "", "IVR400Seat": "",
        "IVR400Disp": "", "content": "",
    }
    base.update(kw)
    return base


# Recorded Cdr events (panoramisk Message → dict), in arrival order.
EVENTS = [
    _event(Destination="9990001", Channel="PJSIP/carrier-00000010", DestinationChannel="PJSIP/pstn-00000011",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5072,10", StartTime="2026-11-26 01:16:29",
           AnswerTime="", EndTime="2026-11-26 01:16:29", Duration="0", BillableSeconds="0", Disposition="BUSY",
           UniqueID="1795655789.34", LinkedID="1795655789.34", Sequence="20", StartEpoch="1795655789.093412",
           AnswerEpoch="0.000000", EndEpoch="1795655789.096915"),
    _event(Destination="9990001", Channel="PJSIP/carrier-00000010", DestinationChannel="PJSIP/pstn-00000012",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5073,2", StartTime="2026-11-26 01:16:29",
           AnswerTime="", EndTime="2026-11-26 01:16:31", Duration="2", BillableSeconds="0", Disposition="NO ANSWER",
           UniqueID="1795655789.34", LinkedID="1795655789.34", Sequence="23", StartEpoch="1795655789.099481",
           AnswerEpoch="0.000000", EndEpoch="1795655791.101464"),
    _event(Destination="9990001", Channel="PJSIP/carrier-00000010", DestinationChannel="PJSIP/pstn-00000013",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5071,10", StartTime="2026-11-26 01:16:31",
           AnswerTime="2026-11-26 01:16:31", EndTime="2026-11-26 01:16:32", Duration="1", BillableSeconds="1",
           Disposition="ANSWERED", UniqueID="1795655789.34", LinkedID="1795655789.34", Sequence="25",
           StartEpoch="1795655791.103616", AnswerEpoch="1795655791.109453", EndEpoch="1795655792.116686",
           IVR400Seat=SEAT1, IVR400Disp="answered"),
    _event(Destination="9990005", Channel="PJSIP/carrier-00000014", DestinationChannel="", LastApplication="Wait",
           LastData="5", StartTime="2026-11-26 01:16:32", AnswerTime="2026-11-26 01:16:32",
           EndTime="2026-11-26 01:16:33", Duration="1", BillableSeconds="1", Disposition="ANSWERED",
           UniqueID="1795655792.44", LinkedID="1795655792.44", Sequence="26", StartEpoch="1795655792.433702",
           AnswerEpoch="1795655792.434822", EndEpoch="1795655793.441605", IVR400Keys="2"),
    _event(Destination="9990006", Channel="PJSIP/carrier-00000015", DestinationChannel="PJSIP/pstn-00000016",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5073&PJSIP/pstn/sip:seat@127.0.0.1:5071,10",
           StartTime="2026-11-26 01:16:33", AnswerTime="", EndTime="2026-11-26 01:16:33", Duration="0",
           BillableSeconds="0", Disposition="NO ANSWER", UniqueID="1795655793.47", LinkedID="1795655793.47",
           Sequence="27", StartEpoch="1795655793.760792", AnswerEpoch="0.000000", EndEpoch="1795655793.772442",
           IVR400Keys="2-1", IVR400Dept="2.1"),
    _event(Destination="9990006", Channel="PJSIP/carrier-00000015", DestinationChannel="PJSIP/pstn-00000017",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5073&PJSIP/pstn/sip:seat@127.0.0.1:5071,10",
           StartTime="2026-11-26 01:16:33", AnswerTime="2026-11-26 01:16:33", EndTime="2026-11-26 01:16:34",
           Duration="1", BillableSeconds="1", Disposition="ANSWERED", UniqueID="1795655793.47",
           LinkedID="1795655793.47", Sequence="30", StartEpoch="1795655793.764847", AnswerEpoch="1795655793.772781",
           EndEpoch="1795655794.781158", IVR400Keys="2-1", IVR400Dept="2.1", IVR400Seat=SEAT1, IVR400Disp="answered"),
    _event(Destination="9990007", Channel="PJSIP/carrier-00000018", DestinationChannel="PJSIP/pstn-00000019",
           LastApplication="Dial", LastData="PJSIP/pstn/sip:seat@127.0.0.1:5073,2", StartTime="2026-11-26 01:16:35",
           AnswerTime="", EndTime="2026-11-26 01:16:37", Duration="2", BillableSeconds="0", Disposition="NO ANSWER",
           UniqueID="1795655795.54", LinkedID="1795655795.54", Sequence="31", StartEpoch="1795655795.093406",
           AnswerEpoch="0.000000", EndEpoch="1795655797.099525"),
    _event(Destination="9990007", Channel="PJSIP/carrier-00000018", DestinationChannel="", LastApplication="Wait",
           LastData="1", StartTime="2026-11-26 01:16:37", AnswerTime="2026-11-26 01:16:37",
           EndTime="2026-11-26 01:16:38", Duration="1", BillableSeconds="1", Disposition="ANSWERED",
           UniqueID="1795655795.54", LinkedID="1795655795.54", Sequence="33", StartEpoch="1795655797.100259",
           AnswerEpoch="1795655797.100765", EndEpoch="1795655798.105634", IVR400Disp="voicemail",
           IVR400Rec="/var/spool/asterisk/ivr400/voicemail/4008001234/1795655795.54.wav"),
]

# The same CDRs as cdr_custom wrote them to ivr400.csv.
CSV_TEXT = """\
ivr400/1,"1795655789.34","1795655789.34","20",""\""" <075512345678>","075512345678","9990001","ivr400-inbound","PJSIP/carrier-00000010","PJSIP/pstn-00000011","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5072,10","1795655789.093412","0.000000","1795655789.096915","0","0","BUSY","DOCUMENTATION","","","4008001234","","","","",""
ivr400/1,"1795655789.34","1795655789.34","23",""\""" <075512345678>","075512345678","9990001","ivr400-inbound","PJSIP/carrier-00000010","PJSIP/pstn-00000012","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5073,2","1795655789.099481","0.000000","1795655791.101464","2","0","NO ANSWER","DOCUMENTATION","","","4008001234","","","","",""
ivr400/1,"1795655789.34","1795655789.34","25",""\""" <075512345678>","075512345678","9990001","ivr400-inbound","PJSIP/carrier-00000010","PJSIP/pstn-00000013","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5071,10","1795655791.103616","1795655791.109453","1795655792.116686","1","1","ANSWERED","DOCUMENTATION","","","4008001234","","","PJSIP/pstn/sip:seat@127.0.0.1:5071","answered",""
ivr400/1,"1795655792.44","1795655792.44","26",""\""" <075512345678>","075512345678","9990005","ivr400-inbound","PJSIP/carrier-00000014","","Wait","5","1795655792.433702","1795655792.434822","1795655793.441605","1","1","ANSWERED","DOCUMENTATION","","","4008001234","2","","","",""
ivr400/1,"1795655793.47","1795655793.47","27",""\""" <075512345678>","075512345678","9990006","ivr400-inbound","PJSIP/carrier-00000015","PJSIP/pstn-00000016","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5073&PJSIP/pstn/sip:seat@127.0.0.1:5071,10","1795655793.760792","0.000000","1795655793.772442","0","0","NO ANSWER","DOCUMENTATION","","","4008001234","2-1","2.1","","",""
ivr400/1,"1795655793.47","1795655793.47","30",""\""" <075512345678>","075512345678","9990006","ivr400-inbound","PJSIP/carrier-00000015","PJSIP/pstn-00000017","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5073&PJSIP/pstn/sip:seat@127.0.0.1:5071,10","1795655793.764847","1795655793.772781","1795655794.781158","1","1","ANSWERED","DOCUMENTATION","","","4008001234","2-1","2.1","PJSIP/pstn/sip:seat@127.0.0.1:5071","answered",""
ivr400/1,"1795655795.54","1795655795.54","31",""\""" <075512345678>","075512345678","9990007","ivr400-inbound","PJSIP/carrier-00000018","PJSIP/pstn-00000019","Dial","PJSIP/pstn/sip:seat@127.0.0.1:5073,2","1795655795.093406","0.000000","1795655797.099525","2","0","NO ANSWER","DOCUMENTATION","","","4008001234","","","","",""
ivr400/1,"1795655795.54","1795655795.54","33",""\""" <075512345678>","075512345678","9990007","ivr400-inbound","PJSIP/carrier-00000018","","Wait","1","1795655797.100259","1795655797.100765","1795655798.105634","1","1","ANSWERED","DOCUMENTATION","","","4008001234","","","","voicemail","/var/spool/asterisk/ivr400/voicemail/4008001234/1795655795.54.wav"
"""


def utc(epoch: str) -> datetime:
    sec, frac = epoch.split(".")
    return datetime.fromtimestamp(int(sec), tz=timezone.utc).replace(microsecond=int(frac))


def by_id(calls: list[Call]) -> dict[str, Call]:
    return {c.uniqueid: c for c in calls}


def region(number: str | None) -> tuple[str | None, str | None]:
    return ("广东", "深圳") if number and number.startswith("0755") else (None, None)


# -- the configuration contract ---------------------------------------------------------------------
def test_deploy_includes_carry_the_mappings_the_parser_reads_and_the_lab_includes_them() -> None:
    files = cdr_include_files()
    custom = [line for line in files["ivr400/cdr_custom.conf"].splitlines() if not line.startswith(";")]
    assert custom == [cdr_custom_mapping()]
    manager = [line for line in files["ivr400/cdr_manager.conf"].splitlines() if not line.startswith(";")]
    assert manager == cdr_manager_mappings()
    # the lab's base config includes them inside [mappings], as docs/operations.md tells an operator
    rendered = render_base_config(LabConfig(ami_secret="x"))
    assert rendered["cdr_custom.conf"].split("[mappings]\n", 1)[1].strip() == "#include ivr400/cdr_custom.conf"
    manager_conf = rendered["cdr_manager.conf"]
    assert "[general]\nenabled = yes\n" in manager_conf
    assert manager_conf.split("[mappings]\n", 1)[1].strip() == "#include ivr400/cdr_manager.conf"
    assert "cdr_custom.so" not in NOLOAD and "cdr_manager.so" not in NOLOAD


def test_csv_mapping_writes_every_column_in_order_with_epoch_times() -> None:
    line = cdr_custom_mapping()
    name, _, fields = line.partition(" => ")
    assert name == "ivr400.csv"
    parts = fields.split(",${")
    # the format, each CDR field and ivr400_hotline CSV-quoted, then the packed columns: one CDR variable the
    # hangup handler wrote as CSV already, written as it is (quoting it again would make it one column)
    assert parts[0] == CSV_FORMAT == "ivr400/4" and len(parts) == len(CSV_COLUMNS) - len(PACKED_COLUMNS) + 1
    assert all(p.startswith("CSV_QUOTE(${CDR(") and p.endswith(")})}") for p in parts[1:-1])
    assert parts[-1] == f"CDR({CDR_CALL})}}" and CDR_CALL == "ivr400_call"
    refs = [p.split("CDR(", 1)[1].split(")", 1)[0] for p in parts[1:-1]]
    assert refs[CSV_COLUMNS.index("start") - 1] == "start,u"
    assert [r.split(",")[0] for r in refs] == list(CSV_COLUMNS[1:-len(PACKED_COLUMNS)])
    assert CSV_COLUMNS[-9:] == ("ivr400_hotline", *PACKED_COLUMNS)
    assert PACKED_COLUMNS == ("ivr400_keys", "ivr400_dept", "ivr400_seat", "ivr400_disp", "ivr400_rec",
                              "ivr400_decided_by", "ivr400_hunt", "ivr400_seat_answer")
    # lines in the previous layouts (recorded below) differ only by the last columns; ivr400/3 wrote the same
    # columns each from its own variable
    assert CSV_LAYOUTS["ivr400/1"] == CSV_COLUMNS[:-3] and CSV_LAYOUTS["ivr400/2"] == CSV_COLUMNS[:-2]
    assert CSV_LAYOUTS["ivr400/3"] == CSV_LAYOUTS[CSV_FORMAT] == CSV_COLUMNS
    assert sorted(CSV_LAYOUTS) == ["ivr400/1", "ivr400/2", "ivr400/3", "ivr400/4"]


def test_cdr_manager_sends_the_hotline_and_the_packed_columns() -> None:
    assert EVENT_HEADERS[-2:] == (("ivr400_hotline", "IVR400Hotline"), ("ivr400_call", "IVR400Call"))
    assert not [name for name, _ in EVENT_HEADERS if name in PACKED_COLUMNS]  # nothing else of the call's


# -- parsing ------------------------------------------------------------------------------------------
def test_event_parses_exact_epoch_times_linkedid_and_variables() -> None:
    leg = leg_from_event(EVENTS[2])
    assert leg.linkedid == "1795655789.34" and leg.sequence == 25
    assert leg.start == utc("1795655791.103616") and leg.answer == utc("1795655791.109453")
    assert leg.end == utc("1795655792.116686")
    assert (leg.disposition, leg.dstchannel, leg.billsec) == ("ANSWERED", "PJSIP/pstn-00000013", 1)
    assert (leg.hotline, leg.seat, leg.disp, leg.rec) == ("4008001234", SEAT1, "answered", "")
    assert leg.seat_answered
    unanswered = leg_from_event(EVENTS[0])
    assert unanswered.answer is None and not unanswered.seat_answered


def test_headers_are_case_insensitive_and_a_dropped_trailing_header_reads_empty() -> None:
    event = {k.lower(): v for k, v in EVENTS[3].items() if k != "IVR400Disp"}
    leg = leg_from_event(event)
    assert leg.disp == "" and leg.keys == "2"
    repeated = dict(EVENTS[3], IVR400Keys=["1", "2"])  # panoramisk turns a repeated header into a list
    assert leg_from_event(repeated).keys == "2"


def test_csv_lines_and_events_give_identical_legs() -> None:
    batch = parse_csv_text(CSV_TEXT)
    assert batch.errors == []
    assert batch.legs == [leg_from_event(e) for e in EVENTS]
    assert batch.legs[0].clid == '"" <075512345678>'


def test_event_without_the_epoch_and_linkedid_mappings_falls_back_to_local_times() -> None:
    bare = {k: v for k, v in EVENTS[2].items() if not k.startswith(("LinkedID", "Sequence", "StartEpoch",
                                                                        "AnswerEpoch", "EndEpoch"))}
    shanghai = timezone(timedelta(hours=8))
    leg = leg_from_event(bare, tz=shanghai)
    assert leg.linkedid == leg.uniqueid == "1795655789.34" and leg.sequence is None
    assert leg.start == datetime(2026, 11, 25, 17, 16, 31, tzinfo=timezone.utc)
    assert leg_from_event(bare).start == datetime(2026, 11, 26, 1, 16, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda row: ["ivr400/9", *row[1:]], "format"),
        (lambda row: row[:-1], "columns"),
        (lambda row: [*row[:12], "yesterday", *row[13:]], "start"),
        (lambda row: [*row[:15], "x", *row[16:]], "duration"),
        (lambda row: [row[0], "", "", *row[3:]], "linkedid"),
        (lambda row: [*row[:12], "0.000000", *row[13:]], "start: missing"),
    ],
)
def test_bad_csv_rows_are_refused_with_the_field(mutate, message: str) -> None:  # noqa: ANN001
    import csv

    row = next(csv.reader([CSV_TEXT.splitlines()[0]]))
    assert len(row) == len(CSV_LAYOUTS["ivr400/1"])
    with pytest.raises(CdrParseError, match=message):
        leg_from_csv_row(mutate(row))


def test_unreadable_lines_are_reported_and_skipped() -> None:
    lines = CSV_TEXT.splitlines()
    text = "\n".join([lines[0], "garbage,line", "", lines[1], 'ivr400/1,"unterminated']) + "\n"
    batch = parse_csv_text(text)
    assert [leg.sequence for leg in batch.legs] == [20, 23]
    assert len(batch.errors) == 2 and "line 2" in batch.errors[0]


def test_not_a_cdr_event() -> None:
    with pytest.raises(CdrParseError, match="event"):
        leg_from_event({"Event": "Newchannel"})


# -- aggregation --------------------------------------------------------------------------------------
def test_recorded_calls_aggregate_to_one_record_each() -> None:
    calls = by_id(aggregate([leg_from_event(e) for e in EVENTS], region))
    assert list(calls) == ["1795655789.34", "1795655792.44", "1795655793.47", "1795655795.54"]

    hunt = calls["1795655789.34"]
    assert hunt.disposition == "answered" and hunt.disposition_explicit
    assert hunt.seat == SEAT1 and hunt.hotline == "4008001234"
    assert hunt.caller == "075512345678" and (hunt.caller_province, hunt.caller_city) == ("广东", "深圳")
    assert hunt.started_at == utc("1795655789.093412") and hunt.ended_at == utc("1795655792.116686")
    assert hunt.answered_at == utc("1795655791.109453")
    assert (hunt.duration_s, hunt.billsec) == (3, 1)

    menu = calls["1795655792.44"]
    assert (menu.disposition, menu.key_path, menu.seat, menu.answered_at) == ("abandoned", "2", None, None)

    group = calls["1795655793.47"]
    assert (group.disposition, group.seat, group.key_path, group.department) == ("answered", SEAT1, "2-1", "2.1")

    vm = calls["1795655795.54"]
    assert vm.disposition == "voicemail" and vm.answered_at is None and vm.seat is None
    assert vm.recording_path == "/var/spool/asterisk/ivr400/voicemail/4008001234/1795655795.54.wav"


def _strip_vars(leg: Leg) -> Leg:
    return replace(leg, seat="", disp="")


@pytest.mark.parametrize(
    ("indexes", "expected", "seat"),
    [
        ([0, 1, 2], "answered", SEAT1),  # busy, no answer, answered: the seat from the Dial's target
        ([0], "busy", None),
        ([0, 1], "noanswer", None),  # the last seat tried rang out
        ([3], "abandoned", None),  # answered by the IVR only: the caller left before any seat rang
        ([4, 5], "answered", "PJSIP/pstn"),  # a ring group: which target answered is only in the channel
        ([6, 7], "noanswer", None),
    ],
)
def test_disposition_derived_from_cdr_dispositions_without_ivr400_disp(indexes, expected, seat) -> None:  # noqa: ANN001
    legs = [_strip_vars(leg_from_event(EVENTS[i])) for i in indexes]
    call = call_from_legs(legs)
    assert (call.disposition, call.seat, call.disposition_explicit) == (expected, seat, False)


def test_dialplan_busy_without_a_seat_is_busy_and_unknown_values_are_ignored() -> None:
    busy_app = replace(leg_from_event(EVENTS[3]), dstchannel="", disposition="BUSY", answer=None, disp="")
    assert call_from_legs([busy_app]).disposition == "busy"
    odd = replace(leg_from_event(EVENTS[3]), disp="Something")
    assert call_from_legs([odd]).disposition == "abandoned"
    upper = replace(leg_from_event(EVENTS[3]), disp="BLOCKED")
    assert call_from_legs([upper]).disposition == "blocked"
    fax = call_from_legs([replace(leg_from_event(EVENTS[3]), disp="fax")])  # 传真: received by ivr400-fax
    assert fax.disposition == "fax" and fax.disposition not in MISSED_DISPOSITIONS


def test_the_variable_set_last_wins_whatever_the_arrival_order() -> None:
    legs = [leg_from_event(e) for e in EVENTS[:3]]
    legs[0] = replace(legs[0], disp="busy", keys="1")
    legs[2] = replace(legs[2], keys="1-2")
    for perm in itertools.permutations(legs):
        call = call_from_legs(perm)
        assert (call.disposition, call.key_path) == ("answered", "1-2")


def test_hotline_from_the_called_number_when_the_dialplan_set_none() -> None:
    leg = replace(leg_from_event(EVENTS[3]), hotline="", dst="4008001234")
    assert call_from_legs([leg]).hotline == "4008001234"
    assert call_from_legs([replace(leg, dst="9990005")]).hotline is None
    assert call_from_legs([replace(leg, hotline="400-800-1234")]).hotline == "4008001234"


def test_anonymous_caller_has_no_number_and_no_region() -> None:
    leg = replace(leg_from_event(EVENTS[3]), src="anonymous")
    call = call_from_legs([leg], region)
    assert (call.caller, call.caller_province) == (None, None)


def test_legs_of_two_calls_are_refused_together() -> None:
    with pytest.raises(ValueError):
        call_from_legs([leg_from_event(EVENTS[0]), leg_from_event(EVENTS[3])])
    with pytest.raises(ValueError):
        call_from_legs([])


# -- idempotence --------------------------------------------------------------------------------------
def test_replaying_events_gives_the_same_calls() -> None:
    legs = [leg_from_event(e) for e in EVENTS]
    assert aggregate(legs + legs, region) == aggregate(legs, region)
    assert aggregate(list(reversed(legs)), region) == sorted(aggregate(legs, region), key=lambda c: c.uniqueid,
                                                             reverse=True)


def test_merge_is_a_join_commutative_associative_idempotent() -> None:
    legs = [leg_from_event(e) for e in EVENTS[:3]]
    views = [call_from_legs(legs[:1]), call_from_legs(legs[1:2]), call_from_legs(legs[2:]), call_from_legs(legs)]
    full = call_from_legs(legs)
    for a, b in itertools.product(views, repeat=2):
        assert merge_calls(a, b) == merge_calls(b, a)
        assert merge_calls(a, a) == a
    for a, b, c in itertools.product(views, repeat=3):
        assert merge_calls(merge_calls(a, b), c) == merge_calls(a, merge_calls(b, c))
    joined = views[0]
    for v in views[1:3]:
        joined = merge_calls(joined, v)
    assert joined.values() == full.values()  # the parts of this call join to the whole
    assert merge_calls(full, views[0]) == full  # a replayed part changes nothing


def test_merge_keeps_the_stronger_disposition_and_longer_paths() -> None:
    base = call_from_legs([leg_from_event(EVENTS[3])])
    busy = replace(base, disposition="busy", key_path="2", department="2")
    noanswer = replace(base, disposition="noanswer", key_path="2-1", department="2.1")
    merged = merge_calls(busy, noanswer)
    assert (merged.disposition, merged.key_path, merged.department) == ("noanswer", "2-1", "2.1")
    assert DISPOSITIONS[0] == "answered"
    with pytest.raises(ValueError):
        merge_calls(base, replace(base, uniqueid="other"))


#: Recorded on the lab in the current layout (`make demo`: the controller decided, key 1, the first seat answered).
CSV_V2_CONTROLLER = (
    'ivr400/2,"1796052945.2185","1796052945.2185","1057",""""" <13800138000>","13800138000","1",'
    '"ivr400-m-4008123456","PJSIP/carrier-00000363","PJSIP/pstn-00000364","Dial",'
    '"PJSIP/pstn/sip:01062345678@127.0.0.1:5091,15,","1796052945.913778","1796052945.947598","1796052950.010942",'
    '"4","4","ANSWERED","DOCUMENTATION","","","4008123456","1","1","PJSIP/pstn/sip:01062345678@127.0.0.1:5091",'
    '"answered","","controller"\n'
)


def test_who_decided_is_read_from_both_layouts_and_joins_to_mixed() -> None:
    import csv

    old = next(csv.reader([CSV_TEXT.splitlines()[2]]))
    assert leg_from_csv_row(old).decided_by == ""  # written before ivr400_decided_by existed
    new = ["ivr400/2", *old[1:], "controller"]
    assert leg_from_csv_row(new) == replace(leg_from_csv_row(old), decided_by="controller")
    newest = [CSV_FORMAT, *old[1:], "controller", "1795655791", "1795655791.109"]  # ivr400/3: hunt, seat answer
    assert leg_from_csv_row(newest) == replace(leg_from_csv_row(old), decided_by="controller", hunt="1795655791",
                                               seat_answer="1795655791.109")
    joined = call_from_legs([leg_from_csv_row(newest)])
    assert joined.hunt_at == utc("1795655791.0") and joined.seat_answered_at == utc("1795655791.109000")
    batch = parse_csv_text(CSV_V2_CONTROLLER)
    assert batch.errors == []
    [recorded] = aggregate(batch.legs)
    assert (recorded.decided_by, recorded.disposition, recorded.key_path, recorded.department) == (
        "controller", "answered", "1", "1")
    assert leg_from_event({**EVENTS[2], "IVR400DecidedBy": "static"}).decided_by == "static"
    legs = [leg_from_event(e) for e in EVENTS[:3]]
    assert call_from_legs(legs).decided_by is None
    decided = call_from_legs([*legs[:2], replace(legs[2], decided_by="controller")])
    assert decided.decided_by == "controller"
    assert call_from_legs([replace(legs[2], decided_by="bogus")]).decided_by is None  # only DECIDED_BY values
    views = [replace(decided, decided_by=d) for d in (None, *DECIDED_BY)]
    for a, b in itertools.product(views, repeat=2):
        assert merge_calls(a, b).decided_by == merge_calls(b, a).decided_by
        assert merge_calls(a, a) == a
    for a, b, c in itertools.product(views, repeat=3):
        assert merge_calls(merge_calls(a, b), c) == merge_calls(a, merge_calls(b, c))
    assert merge_calls(views[1], views[2]).decided_by == "mixed"  # controller + static
    assert merge_calls(views[0], views[2]).decided_by == "static"  # unknown + static


#: Recorded on the lab (Asterisk 22) in the current layout, ivr400/4: an answered menu call (key 1, department 1,
#: decided by the controller); the line ends with the hangup handler's packed columns as it wrote them.
CSV_V4_MENU = (
    'ivr400/4,"1796132146.9600","1796132146.9600","4800",""""" <13800138000>","13800138000","s","ivr400-hunt",'
    '"PJSIP/carrier-000012c0","PJSIP/pstn-000012c1","Dial","PJSIP/pstn/sip:01062345009@127.0.0.1:5091,10,",'
    '"1796132146.320256","1796132146.323606","1796132147.034540","0","0","ANSWERED","DOCUMENTATION","","",'
    '"4008000009","1","1","PJSIP/pstn/sip:01062345009@127.0.0.1:5091","answered","","controller","1796132146",'
    '"1796132146.799"\n'
)
#: Its packed columns: CDR(ivr400_call) as the hangup handler wrote it (the Cdr event's IVR400Call header).
V4_PACKED = ('"1","1","PJSIP/pstn/sip:01062345009@127.0.0.1:5091","answered","","controller","1796132146",'
             '"1796132146.799"')
V4_SEAT = "PJSIP/pstn/sip:01062345009@127.0.0.1:5091"
#: The same CDR as a Cdr event (cdr_manager with the shipped mappings: no header per packed column).
V4_EVENT = {
    "Event": "Cdr", "Privilege": "cdr,all", "AccountCode": "", "Source": "13800138000", "Destination": "s",
    "DestinationContext": "ivr400-hunt", "CallerID": '"" <13800138000>', "Channel": "PJSIP/carrier-000012c0",
    "DestinationChannel": "PJSIP/pstn-000012c1", "LastApplication": "Dial",
    "LastData": "PJSIP/pstn/sip:01062345009@127.0.0.1:5091,10,", "StartTime": "2026-12-01 13:35:46",
    "AnswerTime": "2026-12-01 13:35:46", "EndTime": "2026-12-01 13:35:47", "Duration": "0", "BillableSeconds": "0",
    "Disposition": "ANSWERED", "AMAFlags": "DOCUMENTATION", "UniqueID": "1796132146.9600", "UserField": "",
    "LinkedID": "1796132146.9600", "Sequence": "4800", "StartEpoch": "1796132146.320256",
    "AnswerEpoch": "1796132146.323606", "EndEpoch": "1796132147.034540", "IVR400Hotline": "4008000009",
    "IVR400Call": V4_PACKED,
}


def _packed(leg: Leg) -> tuple[str, ...]:
    return leg.keys, leg.dept, leg.seat, leg.disp, leg.rec, leg.decided_by, leg.hunt, leg.seat_answer


def test_a_recorded_ivr400_4_line_parses_and_aggregates() -> None:
    assert CSV_V4_MENU.startswith(f"{CSV_FORMAT},") and CSV_V4_MENU.endswith(f",{V4_PACKED}\n")
    batch = parse_csv_text(CSV_V4_MENU)
    assert batch.errors == []
    [leg] = batch.legs
    assert leg.hotline == "4008000009" and leg.sequence == 4800 and leg.seat_answered
    assert _packed(leg) == ("1", "1", V4_SEAT, "answered", "", "controller", "1796132146", "1796132146.799")
    [call] = aggregate(batch.legs, region)
    assert (call.key_path, call.department, call.seat, call.disposition, call.decided_by) == (
        "1", "1", V4_SEAT, "answered", "controller")
    assert (call.hotline, call.caller, call.recording_path) == ("4008000009", "13800138000", None)
    assert call.hunt_at == utc("1796132146.0") and call.seat_answered_at == utc("1796132146.799000")
    assert call.started_at == utc("1796132146.320256") and call.ended_at == utc("1796132147.034540")


def test_an_ivr400_4_line_closed_before_the_hangup_handler_ran_keeps_its_hotline() -> None:
    """A CDR closed before the handler ran (a seat's leg that ended before another answered) has an empty
    ivr400_call: its line ends with one empty column after ivr400_hotline, read as empty packed columns."""
    short = CSV_V4_MENU.removesuffix(f"{V4_PACKED}\n") + "\n"
    assert short.endswith(',"4008000009",\n')
    batch = parse_csv_text(short)
    assert batch.errors == []
    [leg] = batch.legs
    [full] = parse_csv_text(CSV_V4_MENU).legs
    assert leg == replace(full, keys="", dept="", seat="", disp="", rec="", decided_by="", hunt="", seat_answer="")
    assert leg.hotline == "4008000009" and _packed(leg) == ("",) * len(PACKED_COLUMNS)
    # only that: another layout, a column that is not empty, a packed column short are refused
    for bad in (short.replace(f"{CSV_FORMAT},", "ivr400/3,", 1), short.replace(',"4008000009",', ',"4008000009","1"'),
                CSV_V4_MENU.replace(',"1796132146.799"\n', "\n")):
        refused = parse_csv_text(bad)
        assert refused.legs == [] and len(refused.errors) == 1 and "columns" in refused.errors[0], bad


def test_an_ivr400_4_event_unpacks_ivr400call_like_the_line() -> None:
    [line] = parse_csv_text(CSV_V4_MENU).legs
    assert leg_from_event(V4_EVENT) == line
    # the handler had not run: the hotline only
    assert leg_from_event({**V4_EVENT, "IVR400Call": ""}) == replace(
        line, keys="", dept="", seat="", disp="", rec="", decided_by="", hunt="", seat_answer="")
    dropped = {k: v for k, v in V4_EVENT.items() if k != "IVR400Call"}  # Asterisk drops a trailing empty header
    assert _packed(leg_from_event(dropped)) == ("",) * len(PACKED_COLUMNS)
    # an event from a dialplan before ivr400/4 (a header per column) still reads
    legacy = {**dropped, "IVR400Keys": "1", "IVR400Dept": "1", "IVR400Seat": V4_SEAT, "IVR400Disp": "answered",
              "IVR400Rec": "", "IVR400DecidedBy": "controller", "IVR400Hunt": "1796132146",
              "IVR400SeatAnswer": "1796132146.799"}
    assert leg_from_event(legacy) == line


@pytest.mark.parametrize("value", [
    '"1","1"',  # too few columns
    f'{V4_PACKED},""',  # too many
    '"1","unterminated',  # not CSV
    f"{V4_PACKED}\n{V4_PACKED}",  # two lines
])
def test_a_malformed_ivr400call_header_is_refused(value: str) -> None:
    with pytest.raises(CdrParseError, match="ivr400_call"):
        leg_from_event({**V4_EVENT, "IVR400Call": value})


def test_merge_recomputes_region_when_given() -> None:
    a = replace(call_from_legs([leg_from_event(EVENTS[3])]), caller_province=None, caller_city=None)
    assert (merge_calls(a, a, region).caller_province, merge_calls(a, a, region).caller_city) == ("广东", "深圳")


def test_seat_label() -> None:
    assert seat_label("PJSIP/01062345678@carrier-out") == "01062345678"
    assert seat_label(SEAT1) == "seat@127.0.0.1:5071"
    assert seat_label("PJSIP/pstn") == "pstn"
    assert seat_label(None) is None
