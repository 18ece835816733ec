"""Generate the bundled multi-label example ``examples/ticket_tags.csv`` from ``examples/tickets.csv``.

Writes 1,200 support tickets (UTF-8 CSV, header ``text,labels``) whose labels are any of billing, technical,
shipping and account, joined by ``|``: about 60% are one ticket of ``tickets.csv`` (one label), 30% two tickets of
different classes written as one message (two labels, e.g. ``billing|technical``), and 10% messages that raise no
problem at all (thanks, feedback), whose label cell is empty.

The output is deterministic (fixed random seed). Rerun with:

    python examples/make_ticket_tags.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20250125
HERE = Path(__file__).resolve().parent
SOURCE, OUTPUT = HERE / "tickets.csv", HERE / "ticket_tags.csv"
ROWS = 1200
SHARES = {"one": 0.6, "two": 0.3, "none": 0.1}
JOINERS = [" Also, ", " And another thing: ", " Separately, ", " One more issue: ", " Plus ", " "]
NO_PROBLEM = [
    "Thanks a lot, the issue from last week is solved now.",
    "Just wanted to say your support team was great yesterday.",
    "No problem here, only a quick thank you for the fast answer.",
    "Love the new design of the website, keep it up!",
    "Please close my previous request, everything works again.",
    "Great service as always, thanks {name}.",
    "I am happy with everything, this is just feedback on the survey you sent.",
    "Disregard my last message, I figured it out myself.",
    "Thank you for the quick help, have a nice weekend.",
    "All good now, you can mark this as resolved.",
]
NAMES = ["Maria", "John", "Priya", "Tom", "Aisha", "Lukas", "Chen", "Sofia", "Dave"]


def read_tickets() -> dict[str, list[str]]:
    by_class: dict[str, list[str]] = {}
    with SOURCE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_class.setdefault(row["label"], []).append(row["text"])
    return by_class


def make_rows(rng: random.Random, by_class: dict[str, list[str]]) -> list[tuple[str, str]]:
    classes = sorted(by_class)
    rows = []
    for _ in range(ROWS):
        kind = rng.choices(list(SHARES), weights=list(SHARES.values()))[0]
        if kind == "none":
            rows.append((rng.choice(NO_PROBLEM).format(name=rng.choice(NAMES)), ""))
            continue
        picked = sorted(rng.sample(classes, 1 if kind == "one" else 2))
        texts = [rng.choice(by_class[label]) for label in picked]
        rng.shuffle(texts)
        rows.append((rng.choice(JOINERS).join(texts).strip(), "|".join(picked)))
    return rows


def main() -> None:
    rng = random.Random(SEED)
    rows = make_rows(rng, read_tickets())
    with OUTPUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "labels"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUTPUT}")


if __name__ == "__main__":
    main()
