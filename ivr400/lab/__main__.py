"""`python -m ivr400.lab build|up|down|status` (the same commands as `ivr400 lab ...`)."""
from ivr400.lab.commands import lab

if __name__ == "__main__":
    lab(prog_name="python -m ivr400.lab")
