"""Errors that reach the user as one line of text and exit code 2.

Library code raises these for problems with input the user gave (files, options, checkpoints);
the CLI prints ``error: <message>`` and exits with :data:`EXIT_USAGE`. Anything else is a bug
and keeps its traceback.
"""

EXIT_USAGE = 2


class HbilstmError(Exception):
    """A problem with the user's input, worded so that one line says what to fix."""

    #: True on the ranks of a distributed run other than 0 when rank 0 reports the same error,
    #: so that it is printed once.
    reported_by_rank0 = False


class DataError(HbilstmError):
    """A data file or dataset is missing, unreadable or malformed."""


class MissingColumn(DataError):
    """A table lacks a column it must have; ``column`` names it, so that the caller can add which
    option names that column."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


class ConfigError(HbilstmError):
    """A configuration key or option value is unknown or invalid."""


class CheckpointError(HbilstmError):
    """A checkpoint is missing, damaged, unsafe or of another format version."""


class TrainingInterrupted(HbilstmError):
    """SIGINT or SIGTERM stopped training; a resumable checkpoint was written."""


class TrainingDiverged(HbilstmError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
