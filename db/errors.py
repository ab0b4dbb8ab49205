"""What can go wrong in db/, as types the CLI and HTTP layers map to messages and codes."""


class NotFound(LookupError):
    """A source or clip id that does not exist (any more)."""


class EditRefused(ValueError):
    """A registration or edit that would break the tiling or make a useless clip."""


class SourceExists(ValueError):
    """A source with the same URI is already registered."""
