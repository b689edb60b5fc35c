"""The mail infrastructure both senders share (the outbox and the campaign engine)."""
