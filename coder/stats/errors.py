"""The one error the statistics raise for data they cannot be computed from."""


class ReliabilityError(ValueError):
    """Data from which a statistic cannot be computed; the message says why."""
