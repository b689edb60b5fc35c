"""How long one recipient's (text, html) takes once a campaign is compiled.

    .venv/bin/python bench/render_speed.py

A Digitalgipfel mail of about 12-13 KB HTML; prints compile time and the cost per
render() for the named and the anonymous variant."""

import time

from owlmail import create_app
from owlmail.campaigns.rendering import TEMPLATES, Draft, PersonalFields, compile_campaign


def main() -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        body = TEMPLATES["digitalgipfel"].skeleton(app.config) + "\n\n" + "\n\n".join(
            f"Absatz {i}: Hallo {{{{ name }}}}, " + "Wir berichten über Projekte in OWL. " * 3
            for i in range(40))
        start = time.perf_counter()
        compiled = compile_campaign(Draft("Betreff", "Vorschau", body, "digitalgipfel"))
        compile_ms = (time.perf_counter() - start) * 1000
        base = "http://owlmail.test"
        named = PersonalFields("Erika Mustermann", "erika@example.org",
                               f"{base}/unsubscribe/{'x' * 80}", f"{base}/preferences/{'y' * 80}")
        anonymous = PersonalFields("", "anon@example.org", named.unsubscribe_url,
                                   named.preferences_url)
        text, html = compiled.render(named)
        print(f"html {len(html.encode())} B, text {len(text.encode())} B, "
              f"compile {compile_ms:.1f} ms")
        for label, fields in (("named", named), ("anonymous", anonymous)):
            runs = 50_000
            start = time.perf_counter()
            for _ in range(runs):
                compiled.render(fields)
            per_call = (time.perf_counter() - start) / runs * 1e6
            print(f"render ({label}): {per_call:.1f} µs")


if __name__ == "__main__":
    main()
