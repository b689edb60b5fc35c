"""What a sent campaign did: delivered, refused, bounced, complained, unsubscribed."""
