"""A tiny hand-written corpus where the lexical and the dense leg disagree on purpose."""

from haystack import Document

DOCUMENTS = [
    Document(
        id="bp-salt",
        content="Reducing dietary sodium lowers blood pressure in adults with hypertension.",
        meta={"title": "Salt and blood pressure"},
    ),
    Document(
        id="bp-exercise",
        content="Regular aerobic exercise reduces systolic and diastolic pressure.",
        meta={"title": "Exercise and hypertension"},
    ),
    Document(
        id="code-xq7",
        content="Error code XQ7-221 appears when the widget firmware checksum fails.",
        meta={"title": "Firmware errors"},
    ),
    Document(
        id="cats", content="Domestic cats sleep between twelve and sixteen hours a day.", meta={"title": "Feline sleep"}
    ),
    Document(id="coffee", content="Caffeine intake briefly raises heart rate and alertness.", meta={"title": "Coffee"}),
    Document(
        id="volcano",
        content="Basaltic lava flows from shield volcanoes such as Mauna Loa.",
        meta={"title": "Volcanoes"},
    ),
]
