"""Campaign content: Markdown with a few personal fields, compiled once per campaign.

INTERFACE (used by the delivery engine, preview and test send):

    fields = PersonalFields(name=..., email=..., unsubscribe_url=..., preferences_url=...)
    compiled = compile_campaign(campaign)          # once per campaign
    compiled = compile_campaign(campaign, track=True)   # links through BASE_URL/r/<token>
    text, html = compiled.render(fields)           # per recipient, cheap
    compiled.links                                 # [url of link 1, link 2, …] when tracked
    ReaderLinks(campaign_id, len(compiled.links)).fields(fields)  # a consenting reader's
    compiled.subject, compiled.preheader           # plain strings
    validate_body(body)                            # raises CampaignError at save time

The body is parsed (never evaluated) by Jinja's sandbox; only the four personal
fields and `{% if name %}` survive the check. Compiling renders Markdown, sanitises
it with nh3, wraps it in the mail layout and inlines the CSS once for each of the
two variants (name empty / name given), with unique tokens where personal fields go.
render() then only picks a variant and joins the literal pieces with the values.

With `track=True` (the delivery engine; never the archive, previews or test copies) every
http(s) link of the body, in HTML and text, is numbered and leads through BASE_URL/r/:
readers without tracking consent get the campaign's anonymous token of each link, baked
into the compiled variant once (the same for all of them, so they cost nothing per mail);
readers with consent get their own tokens and a 1×1 open pixel, filled in per mail.
"""

import html as htmllib
import re
import secrets
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from string import Formatter
from typing import Protocol
from urllib.parse import quote

import css_inline
import nh3
from flask import current_app, has_app_context, render_template
from flask_babel import gettext
from flask_babel import gettext as _
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from ..subscriptions.services import topic_label
from ..tokens import NumberSigner, Purpose
from .errors import CampaignError

FIELDS = ("name", "email", "unsubscribe_url", "preferences_url")
SAMPLE_NAME = "Erika Mustermann"
SAMPLE_EMAIL = "erika.mustermann@example.org"


@dataclass(frozen=True)
class PersonalFields:
    name: str
    email: str
    unsubscribe_url: str
    preferences_url: str
    # A reader with tracking consent: their own URL of each link (by number) and of the
    # open pixel. None: the campaign's anonymous links, no pixel.
    links: tuple[str, ...] | None = None
    pixel: str = ""


class CampaignContent(Protocol):
    """What compiling needs: a Campaign, or an unsaved draft for the preview."""

    subject: str
    preheader: str
    body: str
    template: str
    topics: list


@dataclass
class Draft:
    """An unsaved campaign (the editor's form), for the live preview."""

    subject: str
    preheader: str = ""
    body: str = ""
    template: str = "standard"
    topics: list = field(default_factory=list)
    id: int | None = None


# --- the templates editors can pick ----------------------------------------------------

@dataclass(frozen=True)
class MailTemplate:
    id: str
    label: str
    heading: str  # shown in the mail's header band
    skeleton: Callable[[dict], str]  # Markdown pre-filled when an editor picks it


def _no_skeleton(config: dict) -> str:
    return ""


def _digitalgipfel_skeleton(config: dict) -> str:
    """Intro, a section per theme and value chain, facts, contact, call for ideas."""
    themes = ("Innovation", "Bildung", "Gründung", "Digitale Infrastruktur")
    chains = ("Industrie", "Bauen", "Gesundheit", "IT")
    parts = [
        "{% if name %}Guten Tag {{ name }},{% else %}Guten Tag,{% endif %}",
        "der Digitalgipfel OWL ist vorbei – und er hat viel bewegt. Hier lesen Sie die "
        "wichtigsten Ergebnisse aus den Themenfeldern und Wertschöpfungsketten.",
        "## Themenfelder",
    ]
    parts += [f"### {theme}\n\n[Ergebnisse und nächste Schritte zu {theme}]" for theme in themes]
    parts.append("## Wertschöpfungsketten")
    parts += [f"### {chain}\n\n[Ergebnisse und nächste Schritte zu {chain}]" for chain in chains]
    parts += [
        "## Zahlen und Fakten",
        "- **Datum:** [TT.MM.JJJJ]\n- **Ort:** [Veranstaltungsort]\n"
        "- **Teilnehmende:** [Anzahl]\n- **Sessions:** [Anzahl]",
        "## Ihre Ansprechpartnerin",
        f"**[Name]**, [Funktion]  \n{config['OPERATOR_NAME']}, {config['OPERATOR_ADDRESS']}  \n"
        f"Telefon {config['OPERATOR_PHONE']} · "
        f"[{config['OPERATOR_EMAIL']}](mailto:{config['OPERATOR_EMAIL']})",
        "## Ihre Ideen für OWL",
        "Sie haben eine Idee, ein Projekt oder eine Frage zu den Ergebnissen? "
        f"[Schreiben Sie uns über das Kontaktformular]({config['BASE_URL']}/contact) – "
        "wir melden uns.",
    ]
    return "\n\n".join(parts) + "\n"


TEMPLATES = {
    "standard": MailTemplate("standard", "Standard", "OWL morgen", _no_skeleton),
    "digitalgipfel": MailTemplate("digitalgipfel", "Digitalgipfel – Ergebnisse",
                                  "Digitalgipfel OWL – Ergebnisse", _digitalgipfel_skeleton),
}


def template_for(template_id: str | None) -> MailTemplate:
    """The template with this id; unknown ids fall back to the standard layout."""
    return TEMPLATES.get(template_id or "standard", TEMPLATES["standard"])


# --- checking the body -----------------------------------------------------------------

_ENV = SandboxedEnvironment(autoescape=False)
_SKIP = {"whitespace", "comment_begin", "comment", "comment_end"}


def validate_body(body: object) -> None:
    """Raise CampaignError (413/422) for an oversized body or anything but the personal
    fields and `{% if name %}`; never evaluates."""
    if not isinstance(body, str):
        raise CampaignError.invalid(_("Der Text muss ein Text sein."))
    if "\x00" in body:  # PostgreSQL cannot store it; no editor means to type it
        raise CampaignError.invalid(_("Der Text enthält ein Nullzeichen (\\0)."),
                                    "invalid_body")
    limit = current_app.config["CAMPAIGN_BODY_MAX_LENGTH"] if has_app_context() else None
    if limit and len(body) > limit:
        raise CampaignError(_("Der Text ist zu lang (höchstens %(max)d Zeichen).", max=limit),
                            413, "too_large")
    try:
        _parse(body)
    except ValueError as exc:
        raise CampaignError(str(exc), 422, "invalid_body")
    if has_app_context():
        check_render_cost(body)


def _parse(body: str) -> nodes.Template:
    """The checked syntax tree of a body (tags first, then the whole tree)."""
    try:
        for line, tag in _tags(body):
            _check_tag(line, tag)
        tree = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise CampaignError(f"Fehler in Zeile {exc.lineno}: {_syntax_message(exc)}", 422,
                            "invalid_body")
    for node in tree.body:
        _check_node(node)
    return tree


def _syntax_message(exc: TemplateSyntaxError) -> str:
    """A German message for Jinja's syntax errors."""
    text = exc.message or ""
    if "looking for the following tags" in text:
        return "Ein {% if %} ist nicht mit {% endif %} geschlossen."
    if "unknown tag" in text:
        return "{% else %} oder {% endif %} ohne passendes {% if %}."
    return "Ein Platzhalter ist nicht vollständig – fehlt „}}“ oder „%}“?"


def _tags(body: str) -> Iterable[tuple[int, list[tuple[str, str]]]]:
    """Each `{{ … }}` / `{% … %}` tag as (line, [(token type, value), …])."""
    current: list[tuple[str, str]] = []
    start = 0
    for line, kind, value in _ENV.lex(body):
        if kind in ("variable_begin", "block_begin", "raw_begin"):
            current, start = [], line
        if kind in _SKIP and not current:
            continue
        if kind != "data":
            current.append((kind, value))
        if kind in ("variable_end", "block_end", "raw_end"):
            yield start, current
            current = []


def _refused(line: int, expression: str) -> CampaignError:
    return CampaignError(
        f"Zeile {line}: „{expression}“ ist nicht erlaubt. Erlaubt sind nur "
        "{{ name }}, {{ email }}, {{ unsubscribe_url }}, {{ preferences_url }} und "
        "{% if name %} … {% else %} … {% endif %}.", 422, "invalid_body")


def _check_tag(line: int, tag: list[tuple[str, str]]) -> None:
    """A tag must be a bare field name, or if/elif <field>, else, endif."""
    words = [(kind, value) for kind, value in tag if kind not in _SKIP]
    inner = [value for kind, value in words[1:-1]]
    kinds = [kind for kind, value in words[1:-1]]
    opener = words[0][0]
    ok = False
    if opener == "variable_begin":
        ok = kinds == ["name"] and inner[0] in FIELDS
    elif opener == "block_begin":
        ok = (kinds == ["name", "name"] and inner[0] in ("if", "elif") and inner[1] in FIELDS) \
            or inner in (["else"], ["endif"])
    if not ok:
        raise _refused(line, "".join(value for kind, value in tag).strip())


def _check_node(node: nodes.Node) -> None:
    """Walk the tree: Output/TemplateData, the four Names, If with a Name as test."""
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                continue
            if not (isinstance(child, nodes.Name) and child.name in FIELDS):
                raise _refused(child.lineno, type(child).__name__)
    elif isinstance(node, nodes.If):
        if not (isinstance(node.test, nodes.Name) and node.test.name in FIELDS):
            raise _refused(node.lineno, "if " + type(node.test).__name__)
        for child in (*node.body, *node.elif_, *node.else_):
            _check_node(child)
    else:
        raise _refused(node.lineno, type(node).__name__)


# --- from the tree to Markdown with tokens ----------------------------------------------

def _flatten(body: list[nodes.Node], has_name: bool, tokens: dict[str, str]) -> str:
    """The Markdown of one variant: ifs decided, fields replaced by tokens."""
    out: list[str] = []
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                out.append(child.data if isinstance(child, nodes.TemplateData)
                           else tokens[child.name])
        else:
            out.append(_flatten(_branch(node, has_name), has_name, tokens))
    return "".join(out)


def _branch(node: nodes.If, has_name: bool) -> list[nodes.Node]:
    """The branch of an if that a recipient sees; only `name` can be empty."""
    for candidate in (node, *node.elif_):
        if candidate.test.name != "name" or has_name:
            return candidate.body
    return node.else_


# --- Markdown to HTML and to plain text ------------------------------------------------

@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")


ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
}


def sanitize(html: str) -> str:
    """Editors' HTML without scripts, event handlers, styles or javascript: links."""
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel=None,
                     strip_comments=True)


def markdown_to_html(source: str) -> str:
    """Markdown rendered and sanitised."""
    return sanitize(_markdown().render(source))


class TextWriter:
    """Renders markdown-it's tokens as a readable plain text mail."""

    def __init__(self, placeholders: Iterable[str] = (),
                 link: Callable[[str], str] | None = None) -> None:
        self.placeholders = tuple(placeholders)  # not counted when underlining headings
        self.link = link  # rewrites a link's address (tracking), or None
        self.blocks: list[str] = []
        self.quote = 0
        self.lists: list[list] = []  # [ordered, next number] per open list
        self.item_prefix: str | None = None
        self.heading: str | None = None
        self.row: list[str] | None = None  # cells of the open table row
        self.in_list = False
        self.in_table = False

    def write(self, tokens) -> str:
        for token in tokens:
            self.token(token)
        return "\n\n".join(block for block in self.blocks if block.strip()) + "\n"

    def add(self, text: str, wrap: bool = True) -> None:
        """One block, wrapped at 76, indented for lists and quotes."""
        indent = "  " * max(len(self.lists) - 1, 0)
        first = indent + (self.item_prefix or "")
        rest = indent + " " * len(self.item_prefix or "")
        self.item_prefix = None
        lines: list[str] = []
        for line in text.split("\n"):
            wrapped = textwrap.wrap(line, 76, break_long_words=False,
                                    break_on_hyphens=False) if wrap else [line]
            lines += wrapped or [""]
        quote = "> " * self.quote
        block = "\n".join(quote + (rest if i else first) + line for i, line in enumerate(lines))
        together = (self.lists and self.in_list) or (self.row is not None and self.in_table)
        if together and self.blocks:
            self.blocks[-1] += "\n" + block  # list items and table rows stay together
        else:
            self.blocks.append(block)
        self.in_list = bool(self.lists)
        self.in_table = self.row is not None

    def token(self, token) -> None:
        handler = getattr(self, "on_" + token.type, None)
        if handler:
            handler(token)

    def on_inline(self, token) -> None:
        text = inline_text(token.children or [], self.link)
        if self.row is not None:
            self.row.append(text)
        elif self.heading:
            underline = "=" if self.heading == "h1" else "-"
            self.add(f"{text}\n{underline * min(self.width(text), 76)}", wrap=False)
        else:
            self.add(text)

    def width(self, text: str) -> int:
        for placeholder in self.placeholders:
            text = text.replace(placeholder, "x" * 12)  # a typical name's length
        return len(text)

    def on_heading_open(self, token) -> None:
        self.heading = token.tag

    def on_heading_close(self, token) -> None:
        self.heading = None

    def on_bullet_list_open(self, token) -> None:
        self.lists.append([False, 1])

    def on_ordered_list_open(self, token) -> None:
        self.lists.append([True, int(token.attrGet("start") or 1)])

    def on_bullet_list_close(self, token) -> None:
        self.lists.pop()

    on_ordered_list_close = on_bullet_list_close

    def on_list_item_open(self, token) -> None:
        ordered, number = self.lists[-1]
        self.item_prefix = f"{number}. " if ordered else "- "
        self.lists[-1][1] += 1

    def on_blockquote_open(self, token) -> None:
        self.quote += 1

    def on_blockquote_close(self, token) -> None:
        self.quote -= 1

    def on_fence(self, token) -> None:
        self.add(token.content.rstrip("\n"), wrap=False)

    on_code_block = on_fence

    def on_hr(self, token) -> None:
        self.add("-" * 40)

    def on_html_block(self, token) -> None:
        self.add(_strip_tags(token.content).strip())

    def on_tr_open(self, token) -> None:
        self.row = []

    def on_tr_close(self, token) -> None:
        self.add(" | ".join(self.row or []), wrap=False)
        self.row = None

    def on_table_close(self, token) -> None:
        self.in_table = False


def inline_text(children, link: Callable[[str], str] | None = None) -> str:
    """The text of inline tokens; links as 'text (url)', the url through `link` if given
    (a link written as its own address then shows only the rewritten one)."""
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            href_stack.append((child.attrGet("href") or "", len(out)))
        elif kind == "link_close" and href_stack:
            href, start = href_stack.pop()
            label = "".join(out[start:])
            shown = link(href) if link and href else href
            if href and href == label and shown != href:
                out[start:] = [shown]
            elif href and href != label and href != "mailto:" + label:
                out.append(f" ({shown})")
        elif kind == "image":
            out.append(f"[Bild: {child.content}]" if child.content else "[Bild]")
        elif kind == "html_inline":
            out.append(_strip_tags(child.content))
    return "".join(out)


def _strip_tags(html: str) -> str:
    return nh3.clean(html, tags=set(), clean_content_tags={"script", "style"})


def markdown_to_text(source: str, placeholders: Iterable[str] = (),
                     link: Callable[[str], str] | None = None) -> str:
    """The plain text part, from the same Markdown source."""
    return TextWriter(placeholders, link).write(_markdown().parse(source))


# --- compiling once, rendering per recipient --------------------------------------------

_IN_TAG = re.compile(r"<[^>]*>")


class _Pieces:
    """A text cut at its personal fields: literals plus numbered slots to fill."""

    __slots__ = ("pieces", "slots")

    def __init__(self, template: str) -> None:
        self.pieces: list[str] = []
        self.slots: list[tuple[int, str]] = []
        for literal, key, _spec, _conversion in Formatter().parse(template):
            if literal:
                self.pieces.append(literal)
            if key is not None:
                self.slots.append((len(self.pieces), key))
                self.pieces.append("")

    def fill(self, values: dict[str, str]) -> str:
        pieces = self.pieces.copy()
        for index, key in self.slots:
            pieces[index] = values[key]
        return "".join(pieces)

    def bake(self, values: dict[str, str]) -> "_Pieces":
        """The same text with these slots filled for good (the others stay slots)."""
        filled = {index: key for index, key in self.slots}
        template = []
        for index, piece in enumerate(self.pieces):
            key = filled.get(index)
            if key is None or key in values:
                template.append(_braces(values[key] if key else piece))
            else:
                template.append("{" + key + "}")
        return _Pieces("".join(template))


@dataclass
class _Variant:
    text: _Pieces
    html: _Pieces
    quoted: bool  # whether a name or address sits inside a link (URL-quoted)


@dataclass
class CompiledCampaign:
    campaign_id: int | None
    subject: str
    preheader: str
    anonymous: _Variant
    named: _Variant
    links: list[str] = field(default_factory=list)  # tracked: link n is links[n - 1]
    tracked: tuple[_Variant, _Variant] | None = None  # (anonymous, named) with link slots

    def render(self, fields: PersonalFields) -> tuple[str, str]:
        """(text, html) for one recipient: pick the variant, fill in the fields."""
        name = fields.name
        if fields.links is not None and self.tracked is not None:
            variant = self.tracked[1] if name else self.tracked[0]
        else:
            variant = self.named if name else self.anonymous
        email = fields.email
        values = {"n": name, "nh": escape(name), "e": email, "eh": escape(email),
                  "u": fields.unsubscribe_url, "p": fields.preferences_url}
        if variant.quoted:
            values["nu"] = quote(name, safe="")
            values["eu"] = quote(email, safe="@")
        if variant is not self.named and variant is not self.anonymous:
            _reader_values(values, fields)
        return variant.text.fill(values), variant.html.fill(values)


def _reader_values(values: dict[str, str], fields: PersonalFields) -> None:
    """A consenting reader's own link addresses and open pixel."""
    for number, url in enumerate(fields.links or (), start=1):
        values[f"l{number}"] = url
        values[f"lh{number}"] = escape(url)
    values["o"] = PIXEL.format(url=escape(fields.pixel)) if fields.pixel else ""


PIXEL = ('<img src="{url}" width="1" height="1" alt="" '
         'style="display:block;width:1px;height:1px;border:0">')


def compile_campaign(campaign: CampaignContent, *, archive: bool = False,
                     track: bool = False) -> CompiledCampaign:
    """Prepare a campaign for fast per-recipient rendering (needs an app context).
    `track`: the body's links lead through BASE_URL/r/ (the delivery engine's mails)."""
    tree = _parse(campaign.body or "")
    tokens = {key: f"owl{secrets.token_hex(8)}{key.replace('_', '')}x" for key in FIELDS}
    table = _LinkTable(tokens) if track else None
    variants = [_compile_variant(campaign, tree, has_name, tokens, archive, table)
                for has_name in (False, True)]
    compiled = CompiledCampaign(getattr(campaign, "id", None), campaign.subject,
                                campaign.preheader or "", *variants)
    if table is not None:
        _track(compiled, table.urls)
    return compiled


def _track(compiled: CompiledCampaign, urls: list[str]) -> None:
    """Keep the variants with link slots for consenting readers; bake the campaign's
    anonymous links (and no pixel) into the variants everyone else gets."""
    compiled.links = urls
    compiled.tracked = (compiled.anonymous, compiled.named)
    signer = NumberSigner(Purpose.CLICK)
    base = current_app.config["BASE_URL"]
    anonymous = {"o": ""}
    for number in range(1, len(urls) + 1):
        url = f"{base}/r/{signer.dumps(compiled.campaign_id or 0, number)}"
        anonymous[f"l{number}"] = anonymous[f"lh{number}"] = url
    compiled.anonymous, compiled.named = (
        _Variant(v.text.bake(anonymous), v.html.bake(anonymous), v.quoted)
        for v in compiled.tracked)


class _LinkTable:
    """The body's http(s) links by number, in the order they first appear; the same for
    every variant and language of a campaign (the body decides it)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.fields = tuple(tokens.values())
        self.prefix = f"owl{secrets.token_hex(8)}"
        self.numbers: dict[str, int] = {}
        self.urls: list[str] = []

    def placeholder(self, url: str) -> str:
        """The stand-in for a link in the compiled text; a personal link stays itself."""
        if not url.lower().startswith(("http://", "https://")) or any(
                token in url for token in self.fields):
            return url
        number = self.numbers.get(url)
        if number is None:
            self.urls.append(url)
            number = self.numbers[url] = len(self.urls)
        return f"{self.prefix}L{number}x"

    def rewrite_html(self, html: str) -> str:
        """Every link's href in sanitised HTML (nh3 writes href="…") as its stand-in."""
        def href(match: re.Match) -> str:
            url = htmllib.unescape(match.group(2))
            stand_in = self.placeholder(url)
            return match.group(0) if stand_in == url else f"{match.group(1)}{stand_in}\""

        return _ANCHOR.sub(lambda anchor: _HREF.sub(href, anchor.group(0), count=1), html)

    def slots(self, text: str, html: bool) -> str:
        """Stand-ins as format fields: {l3} (text), {lh3} (HTML-escaped). In HTML each
        href gets a line of its own (line breaks inside a tag are only whitespace): the
        mail builder encodes lines it has seen before from memory, so a reader's own
        links then cost a short line each, not the whole paragraph around them."""
        if not html:
            return re.sub(re.escape(self.prefix) + r"L(\d+)x", r"{l\1}", text)
        return re.sub(r'\shref="' + re.escape(self.prefix) + r'L(\d+)x"',
                      r'\nhref="{lh\1}"\n', text)


_ANCHOR = re.compile(r"<a\s[^>]*>")
_HREF = re.compile(r'(\shref=")([^"]*)"')


def _compile_variant(campaign, tree, has_name: bool, tokens: dict[str, str],
                     archive: bool, table: "_LinkTable | None" = None) -> _Variant:
    """One variant's text and HTML, with format fields where personal data goes."""
    source = _flatten(tree.body, has_name, tokens)
    context = _layout_context(campaign, tokens, archive)
    content = _link_bare_urls(markdown_to_html(source),
                              (tokens["unsubscribe_url"], tokens["preferences_url"]))
    if table is not None:
        content = table.rewrite_html(content)
    html = render_template("campaign_mail/mail.html",
                           content=Markup(content),  # noqa: S704 (sanitised by nh3)
                           **context)
    html = _inliner().inline(html)
    text = render_template("campaign_mail/mail.txt", content=markdown_to_text(
        source, tokens.values(), table.placeholder if table else None), **context)
    html, text = _fill_html(html, tokens), _fill_text(text, tokens)
    if table is not None:
        html = table.slots(html, True).replace("</body>", "{o}\n</body>", 1)
        text = table.slots(text, False)
    return _Variant(_Pieces(text), _Pieces(html), "{nu}" in html or "{eu}" in html)


class ReaderLinks:
    """A consenting reader's own link tokens: campaign, link and reader, signed (and the
    open pixel's); for the delivery engine, per mail."""

    def __init__(self, campaign_id: int, link_count: int) -> None:
        self.campaign_id, self.numbers = campaign_id, range(1, link_count + 1)
        self.base = current_app.config["BASE_URL"]
        self.clicks, self.opens = NumberSigner(Purpose.CLICK), NumberSigner(Purpose.OPEN)

    def fields(self, fields: PersonalFields, subscriber_id: int) -> PersonalFields:
        """The reader's personal fields with their own links and pixel."""
        campaign, dumps = self.campaign_id, self.clicks.dumps
        links = tuple(f"{self.base}/r/{dumps(campaign, number, subscriber_id)}"
                      for number in self.numbers)
        pixel = f"{self.base}/o/{self.opens.dumps(campaign, subscriber_id)}.gif"
        return PersonalFields(fields.name, fields.email, fields.unsubscribe_url,
                              fields.preferences_url, links, pixel)


_TAG_SPLIT = re.compile(r"(<[^>]*>)")


def _link_bare_urls(html: str, url_tokens: tuple[str, ...]) -> str:
    """A link field written as plain text (not inside a link) becomes a link."""
    parts = _TAG_SPLIT.split(html)
    in_link = 0
    for index, part in enumerate(parts):
        if part.startswith("<"):
            if re.match(r"<a[\s>]", part):
                in_link += 1
            elif part.startswith("</a"):
                in_link = max(in_link - 1, 0)
        elif not in_link:
            for token in url_tokens:
                part = part.replace(token, f'<a href="{token}">{token}</a>')
            parts[index] = part
    return "".join(parts)


def _layout_context(campaign, tokens: dict[str, str], archive: bool) -> dict:
    template = template_for(campaign.template)
    return {
        "template": template,
        "subject": campaign.subject,
        "preheader": campaign.preheader or "",
        "reason": receiving_reason([topic.name for topic in campaign.topics or []]),
        "unsubscribe_url": tokens["unsubscribe_url"],
        "preferences_url": tokens["preferences_url"],
        "archive": archive,
    }


def receiving_reason(topic_names: list[str]) -> str:
    """Why a subscriber gets this mail, naming the campaign's topics."""
    names = [topic_label(name) for name in topic_names]
    if not names:
        return _("Sie erhalten diese E-Mail, weil Sie den Newsletter von OWL morgen "
                 "abonniert haben.")
    if len(names) == 1:
        return _("Sie erhalten diese E-Mail, weil Sie den Newsletter von OWL morgen zum "
                 "Thema %(topic)s abonniert haben.", topic=names[0])
    return _("Sie erhalten diese E-Mail, weil Sie den Newsletter von OWL morgen zu den "
             "Themen %(topics)s oder %(last)s abonniert haben.",
             topics=", ".join(names[:-1]), last=names[-1])


@cache
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _fill_text(text: str, tokens: dict[str, str]) -> str:
    text = _braces(text)
    for key, short in (("name", "n"), ("email", "e"), ("unsubscribe_url", "u"),
                       ("preferences_url", "p")):
        text = text.replace(tokens[key], "{" + short + "}")
    return text


def _fill_html(html: str, tokens: dict[str, str]) -> str:
    """Tokens inside tags take URL-quoted values, in text HTML-escaped ones."""
    html = _braces(html)
    in_tag = {tokens["name"]: "{nu}", tokens["email"]: "{eu}"}

    def attributes(match: re.Match) -> str:
        tag = match.group(0)
        for token, placeholder in in_tag.items():
            tag = tag.replace(token, placeholder)
        return tag

    html = _IN_TAG.sub(attributes, html)
    for key, short in (("name", "nh"), ("email", "eh"), ("unsubscribe_url", "u"),
                       ("preferences_url", "p")):
        html = html.replace(tokens[key], "{" + short + "}")
    return html


# --- preview and archive ----------------------------------------------------------------

def sample_fields() -> PersonalFields:
    """Example personal data for previews."""
    base = current_app.config["BASE_URL"]
    return PersonalFields(SAMPLE_NAME, SAMPLE_EMAIL, f"{base}/unsubscribe/vorschau",
                          f"{base}/preferences/vorschau")


def render_preview(campaign: CampaignContent, fields: PersonalFields | None = None,
                   ) -> tuple[str, str]:
    """(text, html) as a subscriber would see it, with sample data by default."""
    return compile_campaign(campaign).render(fields or sample_fields())


def render_archive(campaign: CampaignContent) -> tuple[str, str]:
    """(text, html) for the public archive: no personal data, no personal links."""
    landing = current_app.config["BASE_URL"] + "/"
    return compile_campaign(campaign, archive=True).render(
        PersonalFields("", "", landing, landing))


def archive_fragment(campaign: CampaignContent) -> str:
    """The body alone as sanitised HTML without personal data (for the Atom feed)."""
    landing = current_app.config["BASE_URL"] + "/"
    values = {"name": "", "email": "", "unsubscribe_url": landing, "preferences_url": landing}
    return markdown_to_html(_flatten(_parse(campaign.body or "").body, False, values))


# --- bounds on rendering cost, checked when a body is saved or previewed ----------------
# Rendering is linear for ordinary text, but some Markdown costs seconds (thousands of
# brackets, tables of thousands of cells) and deep nesting overflows the CSS inliner's
# stack. A body is measured once, when saved, so nothing slow is stored for later.

RENDER_LIMITS = {"depth": 40, "links": 1000, "cells": 2000, "tags": 1000}
_HTML_TAG = re.compile(r"<[A-Za-z/!]")


def render_shape(body: str) -> dict[str, int]:
    """Nesting depth, links, table cells and raw HTML tags of a body's Markdown."""
    shape = dict.fromkeys(RENDER_LIMITS, 0)
    for token in _markdown().parse(body):
        shape["depth"] = max(shape["depth"], token.level)
        shape["cells"] += token.type in ("td_open", "th_open")
        shape["tags"] += len(_HTML_TAG.findall(token.content)) if token.type == "html_block" \
            else 0
        for child in token.children or []:
            shape["depth"] = max(shape["depth"], token.level + child.level)
            shape["links"] += child.type == "link_open"
            shape["tags"] += child.type == "html_inline"
    return shape


def _too_complex(key: str, count: int, limit: int) -> CampaignError:
    """The refusal (422) naming what there is too much of."""
    messages = {
        "depth": gettext("Der Text ist zu tief verschachtelt (%(count)d Ebenen aus Listen, "
                         "Zitaten und Hervorhebungen, höchstens %(max)d).", count=count,
                         max=limit),
        "links": gettext("Der Text enthält %(count)d Links, höchstens %(max)d sind erlaubt.",
                         count=count, max=limit),
        "cells": gettext("Die Tabellen im Text haben zusammen %(count)d Zellen, höchstens "
                         "%(max)d sind erlaubt.", count=count, max=limit),
        "tags": gettext("Der Text enthält %(count)d HTML-Tags, höchstens %(max)d sind "
                        "erlaubt.", count=count, max=limit),
    }
    return CampaignError(messages[key], 422, "too_complex")


def check_render_cost(body: str) -> None:
    """Refuse (422) a body too deep or too large to render, or that renders too slowly."""
    shape = render_shape(body)
    for key, limit in RENDER_LIMITS.items():
        if shape[key] > limit:
            raise _too_complex(key, shape[key], limit)
    _check_render_time(body)


def _check_render_time(body: str) -> None:
    """Render the body as the preview does; refuse it when that took longer than allowed.

    CPU time of this thread, not the clock: a busy machine must not refuse a good body."""
    limit = current_app.config["CAMPAIGN_RENDER_MAX_SECONDS"]
    started = time.thread_time()
    render_preview(Draft(subject="", body=body))
    seconds = time.thread_time() - started
    if seconds > limit:
        raise CampaignError(gettext(
            "Die Darstellung dieses Textes dauert zu lange (%(seconds).2f s, höchstens "
            "%(max).2f s). Bitte kürzen Sie ihn oder vereinfachen Sie Tabellen, Links und "
            "Verschachtelungen.", seconds=seconds, max=limit), 422, "too_complex")
