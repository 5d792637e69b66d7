"""The FreeSWITCH dialplan ↔ ESL controller contract (ivr400.pbx.freeswitch.contract)."""
from __future__ import annotations

import pytest

from ivr400.pbx.freeswitch import contract as c


def test_hook_round_trip_keeps_order_and_blank_values() -> None:
    value = c.hook_request("department", hotline="4008123456", dept="")
    assert value == "department?hotline=4008123456&dept="
    assert c.parse_hook(value) == ("department", {"hotline": "4008123456", "dept": ""})
    assert c.parse_hook("route") == ("route", {})


@pytest.mark.parametrize("bad", ["", "Route", "route;exit", "x" * 33, "../route"])
def test_parse_hook_refuses_what_is_not_a_route(bad: str) -> None:
    with pytest.raises(ValueError, match="IVR400_HOOK"):
        c.parse_hook(bad)


def test_dial_string_maps_pjsip_endpoint_to_gateway() -> None:
    assert c.dial_string("PJSIP/{number}@carrier-a", "01062345678") == "sofia/gateway/carrier-a/01062345678"
    assert c.dial_string("SIP/{number}@x", "13800138000") == "sofia/gateway/ivr400-out/13800138000"
    with pytest.raises(ValueError):
        c.dial_string("PJSIP/{number}@a", "123}${system(x)}")


def test_ringback_sound_refuses_traversal() -> None:
    assert c.ringback_sound("") == ""
    assert c.ringback_sound("ivr400/tone-ab.wav") == "ivr400/tone-ab.wav"
    for bad in ("../etc/passwd", "a b", "x;y"):
        with pytest.raises(ValueError):
            c.ringback_sound(bad)


def test_socket_data() -> None:
    assert c.socket_data("127.0.0.1", 8084) == "127.0.0.1:8084 async full"
