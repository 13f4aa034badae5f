"""The constructs PortkeyGateway is built from, one per file."""
