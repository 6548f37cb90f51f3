"""An HTML page's elements as a browser's parser sees them, for tests of the HTML report."""
from html.parser import HTMLParser

# Elements without an end tag that the report uses.
VOID = ("meta", "input", "br", "link", "img")


class Page(HTMLParser):
    """Elements (tag, attributes, the text directly inside) of a page, in document order."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.elements, self.open = [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        if self.open:
            self.open[-1]["text"] += data

    def find(self, tag=None, cls=None, **attrs):
        """Elements by tag, one of their classes, and attributes (data_row for data-row)."""
        return [e for e in self.elements
                if (tag is None or e["tag"] == tag)
                and (cls is None or cls in e["attrs"].get("class", "").split())
                and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]
