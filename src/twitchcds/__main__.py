"""``python -m twitchcds``: the command-line interface."""

from twitchcds.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
