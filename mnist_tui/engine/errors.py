"""Errors that mean "the input is wrong" (exit code 2 on the command line), as opposed to a bug."""


class InputError(Exception):
    """Bad input the user can fix: data files, device, run directory, checkpoint. One-line message."""


class RunDirError(InputError):
    """The run directory cannot be created, written or read."""


class CheckpointError(InputError):
    """A checkpoint file is missing, damaged, foreign or from an unknown version."""
