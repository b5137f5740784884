"""The server's one error type for a request it cannot answer."""


class SearchError(ValueError):
    """A query the server cannot answer; the message is for the agent (a 400 OperationOutcome)."""
