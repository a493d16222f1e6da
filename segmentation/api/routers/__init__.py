"""One module per AEP endpoint group, each with its ``router``."""
