"""FreeSWITCH transport and wire contract: the channel-variable contract (:mod:`.contract`), and the
Event Socket protocol and clients. Like :mod:`ivr400.pbx.asterisk`, it imports nothing else of ours."""
