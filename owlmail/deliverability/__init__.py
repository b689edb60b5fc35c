"""The DNS records that let inboxes trust owlmail's mail, and a check of what DNS says."""
