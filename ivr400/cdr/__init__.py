"""Reports: call records (通话详单) from Asterisk's CDRs.

- ``cdr_model``: pure parsing of Cdr events / CSV lines into legs, and legs into call records;
- ``cdr_store``: idempotent upserts into ``call_record`` and the CSV backfill with its offset;
- ``cdr_listener``: the AMI listener (panoramisk, reconnecting) with the backfill on every login.
"""
