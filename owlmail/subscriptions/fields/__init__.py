"""Subscriber fields defined by admins (organisation, district …) and campaign segments."""
