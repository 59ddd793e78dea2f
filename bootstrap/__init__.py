"""bootstrap: declarative YAML profiles compiled into cloud machine startup code."""

__version__ = "0.1.0"
