"""The ESL wire format (ivr400.pbx.freeswitch.esl_protocol): frames, events, and what may go into a command.

Frame shapes are FreeSWITCH's own (mod_event_socket.c: ``listener_run`` replies, ``api_exec`` responses,
``switch_event_serialize`` events, the ``connect`` branch of ``parse_command``); no FreeSWITCH binary is
reachable here, so these are checked against those shapes, not against a running FreeSWITCH.
"""
from __future__ import annotations

import asyncio

import pytest

from ivr400.pbx.freeswitch import esl_protocol as p
from ivr400.pbx.freeswitch.esl import read_frame
from tests.fakes.fake_freeswitch import channel_data, event_frame


def frames(data: bytes, *, limit: int = p.MAX_HEADER_BYTES, max_body: int = p.MAX_BODY_BYTES) -> list[p.Frame]:
    async def go() -> list[p.Frame]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(data)
        reader.feed_eof()
        out = []
        while (frame := await read_frame(reader, max_body=max_body)) is not None:
            out.append(frame)
        return out

    return asyncio.run(go())


def test_a_command_reply_an_api_response_and_an_event_in_one_stream() -> None:
    stream = (b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
              b"Content-Type: api/response\nContent-Length: 14\n\n+OK [Success]\n"
              + event_frame([("Event-Name", "CUSTOM"), ("Event-Subclass", "ivr400::voicemail"),
                             ("IVR400-File", "/a b/c.wav")]))
    reply, api, event = frames(stream)
    assert reply.content_type == p.COMMAND_REPLY and reply.ok and reply.reply_text == "+OK accepted"
    assert api.content_type == p.API_RESPONSE and api.body == b"+OK [Success]\n" and api.ok
    headers, body = p.decode_event(event.body)
    assert headers == {"Event-Name": "CUSTOM", "Event-Subclass": "ivr400::voicemail", "IVR400-File": "/a b/c.wav"}
    assert body == b""
    assert b"IVR400-File: %2Fa%20b%2Fc.wav\n" in event.body  # values travel URL-encoded


def test_the_connect_reply_is_the_channel_data_event_with_encoded_values() -> None:
    hook = "department?hotline=4008000001&dept=2"
    [frame] = frames(channel_data(caller="1380013\r\n8000", variables={"IVR400_HOOK": hook}))
    assert frame.content_type == p.COMMAND_REPLY and frame.reply_text == "+OK" and frame.ok
    data = frame.decoded()
    assert data["Caller-Caller-ID-Number"] == "1380013\r\n8000"  # decoded, and never a header of its own
    assert data["variable_IVR400_HOOK"] == hook
    assert data["Socket-Mode"] == "async" and data["Control"] == "full"


def test_an_event_with_its_own_body() -> None:
    headers, body = p.decode_event(p.encode_event([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j1")],
                                                  b"+OK done\n"))
    assert headers["Job-UUID"] == "j1" and body == b"+OK done\n"


@pytest.mark.parametrize("stream, reason", [
    (b"Content-Type: command/reply\nReply-Text: +OK", "header"),  # EOF inside the header block
    (b"Content-Type: api/response\nContent-Length: 50\n\nshort", "body of 5 bytes"),  # EOF inside the body
    (b"Content-Type: api/response\nContent-Length: -1\n\n", "not a number"),
    (b"Content-Type: api/response\nContent-Length: 99999999\n\n", "limit"),
    (b"Content-Type command/reply\n\n", "not 'Name: value'"),
    (b"Content-Type: command/reply\nReply-Text: \xff\xfe\n\n", "UTF-8"),
])
def test_truncated_or_malformed_frames_are_protocol_errors(stream: bytes, reason: str) -> None:
    with pytest.raises(p.ESLProtocolError, match=reason):
        frames(stream)


def test_an_oversize_header_block_is_refused() -> None:
    with pytest.raises(p.ESLProtocolError, match="size limit"):
        frames(b"Content-Type: command/reply\n" + b"X-Pad: " + b"a" * 5000 + b"\n\n", limit=4096)


def test_a_body_over_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(p.ESLProtocolError, match="over the 100-byte limit"):
        frames(b"Content-Type: api/response\nContent-Length: 101\n\n" + b"x" * 101, max_body=100)


def test_an_event_whose_body_disagrees_with_its_length() -> None:
    with pytest.raises(p.ESLProtocolError, match="Content-Length says 10"):
        p.decode_event(b"Event-Name: X\nContent-Length: 10\n\nabc")


def test_sendmsg_set_is_exactly_the_frame_freeswitch_parses() -> None:
    assert p.set_variable("IVR400_TARGET_1", "sofia/gateway/ivr400-out/01062345678") == (
        b"sendmsg\ncall-command: execute\nexecute-app-name: set\n"
        b"execute-app-arg: IVR400_TARGET_1=sofia/gateway/ivr400-out/01062345678\nevent-lock: true\n\n")


@pytest.mark.parametrize("value", [
    "x\r\nexecute-app-name: system",  # header injection
    "x\nevent-lock: false",
    "${system(rm -rf /)}",  # FreeSWITCH would expand it in the set application's data
    "$${hostname}",
    "a'b", 'a"b', "a`b", "a\\b",
    "\x00", "é", "x" * 2000,
])
def test_values_freeswitch_would_misread_never_make_a_frame(value: str) -> None:
    with pytest.raises(p.ESLValueError, match="IVR400_PROMPT"):
        p.set_variable("IVR400_PROMPT", value)
    with pytest.raises(p.ESLValueError):
        p.command("api status", {"x-header": value})


@pytest.mark.parametrize("name", ["", "A B", "A:B", "A\nB", "x" * 65, "${x}"])
def test_unsafe_variable_names_are_refused(name: str) -> None:
    with pytest.raises(p.ESLValueError, match="variable"):
        p.set_variable(name, "1")


def test_the_auth_line_takes_any_printable_password_but_no_line_break() -> None:
    assert p.auth_command("Clue$Con{1}") == b"auth Clue$Con{1}\n\n"
    with pytest.raises(p.ESLValueError, match="password") as info:
        p.auth_command("secret\napi system")
    assert "secret" not in str(info.value)  # the password is never in a message


def test_a_command_line_with_a_line_break_is_refused() -> None:
    with pytest.raises(p.ESLValueError, match="command"):
        p.command("api status\n\napi reloadxml")
