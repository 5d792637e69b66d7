"""Run ivr400 from a checkout: `python cli.py ...` (the installed command is `ivr400`)."""
from ivr400.cli import main

if __name__ == "__main__":
    main()
