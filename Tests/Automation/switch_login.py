"""The command line every automation script here takes: where the switch's SSH listens and who
logs in (scripts/ssh-access made the account)."""
import argparse


def arguments():
    """A parser with --host, --port, --user and --password; a script adds its own options."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    return parser
