"""Campaign results that respect consent: clicks counted per link for every reader,
opens and clicks per reader only for those who agreed; link scanners filtered out."""
