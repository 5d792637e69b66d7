"""The sipp harness moved into the package (ivr400.lab.sipp) so `ivr400 demo --call` can place calls."""
from ivr400.lab.sipp import *  # noqa: F403
from ivr400.lab.sipp import __all__  # noqa: F401
