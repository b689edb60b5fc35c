"""The sign-up form editors paste into owl-morgen.de's own pages."""
