"""Errors that mean "the input is wrong" (exit code 2 on the command line), as opposed to a bug."""


class InputError(Exception):
    """Bad input the user can fix: data files, device, run directory, checkpoint. One-line message."""
