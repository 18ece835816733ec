"""Generate the bundled example data: ``examples/tickets.csv`` and ``examples/unlabeled.txt``.

Writes about 1,500 synthetic customer-support tickets (UTF-8 CSV with the
header ``text,label``) in four classes: billing, technical, shipping, account.
Tickets are composed from per-class templates, slot fillers and shared
openers/closers, with occasional typos and a share of deliberately ambiguous
tickets, so that a classifier scores well but not perfectly.

``unlabeled.txt`` holds 3,000 more tickets of the same kinds, one per line and without their labels, none of
them in ``tickets.csv``: the texts a support desk has plenty of before anyone labels them (``--unlabeled``).

The output is deterministic (fixed random seed). Rerun with:

    python examples/make_tickets.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20240601
OUTPUT = Path(__file__).resolve().parent / "tickets.csv"
UNLABELED = OUTPUT.with_name("unlabeled.txt")
UNLABELED_ROWS = 3000
TARGETS: dict[str, int] = {"billing": 450, "technical": 400, "shipping": 350, "account": 300}
AMBIGUOUS_SHARE = 0.12
NEWLINE_PROB = 0.005
TYPO_PROB = 0.12
LOWERCASE_PROB = 0.07

# --------------------------------------------------------------------------
# Slot fillers
# --------------------------------------------------------------------------
PLANS = ["Pro plan", "Basic plan", "Team plan", "Family plan", "Premium plan",
         "CloudNote Pro", "SyncBox Plus", "Business tier", "Starter plan"]
APPS = ["app", "desktop app", "mobile app", "CloudNote app", "SyncBox client",
        "browser extension", "web app", "Android app", "iOS app"]
HARDWARE = ["wireless headphones", "USB-C charger", "SmartHub router", "Bluetooth speaker",
            "4K webcam", "standing desk", "mechanical keyboard", "smart thermostat",
            "fitness tracker", "coffee grinder", "phone case", "Echo Buds", "HomeCam 2",
            "SyncBox 2", "portable SSD", "ergonomic mouse", "monitor arm", "smart plug"]
DEVICES = ["iPhone 14", "iPhone 12", "Pixel 7", "Galaxy S23", "Windows 11 laptop",
           "MacBook Air", "MacBook Pro", "iPad", "Chromebook", "Linux desktop", "Surface Pro"]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Brave"]
ERRORS = ["error 503", "error code E-1042", "error 500", "a 404", "error 0x80070005",
          "a timeout error", "ERR_CONNECTION_RESET", "error code SYNC-17", "a blank white screen"]
ERROR_MESSAGES = ["Something went wrong", "Unexpected error, please try again",
                  "Session expired", "Unable to connect to server", "Invalid token",
                  "File could not be processed"]
CARDS = ["Visa ending in 4421", "Mastercard", "credit card", "debit card", "Amex",
         "Visa", "company card", "card ending 0937"]
PAY_METHODS = ["PayPal", "Apple Pay", "Google Pay", "a bank transfer", "Klarna", "a gift card"]
CARRIERS = ["UPS", "FedEx", "USPS", "DHL", "Royal Mail", "Canada Post"]
CITIES = ["Denver", "Austin", "Leeds", "Toronto", "Portland", "Lyon", "Melbourne",
          "Chicago", "Dublin", "Rotterdam", "Seattle", "Glasgow"]
COUNTRIES = ["Canada", "Mexico", "Ireland", "Germany", "Brazil", "Australia",
             "New Zealand", "Norway", "Japan", "South Africa", "Portugal"]
DATES = ["yesterday", "last Tuesday", "on Monday", "on the 14th", "March 3rd",
         "last week", "on Friday", "two days ago", "June 21", "this morning", "on the 2nd"]
MONTHS = ["January", "February", "April", "May", "August", "October", "November"]
LANGUAGES = ["Spanish", "German", "French", "Portuguese", "Dutch", "Italian"]
INTEGRATIONS = ["Slack", "Google Drive", "Dropbox", "Salesforce", "Zapier", "Outlook"]
NAMES = ["Maria", "John", "Priya", "Tom", "Aisha", "Lukas", "Chen", "Sofia", "Dave"]
EMAIL_USERS = ["jsmith", "maria.k", "dev.team", "p.shah", "tom_b", "office", "anna92"]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "company.io", "proton.me"]
PROMOS = ["SPRING20", "WELCOME10", "BF2023", "SAVE15", "FRIENDS25", "STUDENT50"]

# --------------------------------------------------------------------------
# Shared openers, extra sentences and closers
# --------------------------------------------------------------------------
OPENERS = ["", "", "", "", "", "Hi,", "Hello,", "Hi there,", "Hey,", "Hi team,",
           "Good morning,", "Hello support,", "Hi support team,", "URGENT:", "Dear support,",
           "Quick question:", "Hi {name} here.", "Hey guys,", "Good afternoon,", "Help!"]
EXTRAS = ["This is the second time I'm writing about this.",
          "I've been a customer for {years} years.",
          "I already tried the live chat but nobody answered.",
          "This is really frustrating.",
          "I need this sorted out today if possible.",
          "I already checked the FAQ.",
          "My coworker has the same problem.",
          "Not sure if this is the right place to ask."]
CLOSERS = ["", "", "", "", "Thanks in advance.", "Thanks!", "Thank you.", "Please help.",
           "Any help appreciated.", "Please advise.", "Cheers", "Let me know asap.",
           "Thanks, {name}", "Regards, {name}", "Appreciate it.", "thx",
           "Looking forward to your reply.", "Can someone get back to me?"]

# --------------------------------------------------------------------------
# Per-class templates
# --------------------------------------------------------------------------
TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {plan} subscription this month, {amount} each time.",
        "Why was my card charged {amount} {date}? I don't recognize this payment.",
        "I'd like a refund for order {order}, I cancelled within the trial but was billed {amount}.",
        "Can you send me an invoice for {order}? Our accounting team needs it with our VAT number.",
        "My payment keeps getting declined even though my {card} works everywhere else.",
        "The price of my renewal went from {amount} to {amount2} without any notice.",
        "I applied the promo code {promo} but it didn't take the discount off.",
        "How do I get a receipt for my last payment of {amount}?",
        "I was charged {amount} after cancelling my {plan}. Please reverse it.",
        "Is there a way to switch from monthly to annual billing and get the discount?",
        "My bank shows a pending charge of {amount} from you but I never completed the purchase.",
        "I was promised {percent}% off for the first year but I'm paying full price.",
        "The invoice says {amount} but the checkout page showed {amount2}. Which one is correct?",
        "Please turn off auto-renewal, I don't want to be billed again.",
        "I got a refund confirmation {date} but the money still isn't back on my {card}.",
        "Can I pay with {paymethod} instead of a credit card?",
        "You charged me sales tax but we're tax exempt, I already sent the certificate.",
        "There's a {amount} fee on my statement labeled \"service charge\", what is that for?",
        "I downgraded to the {plan} but I'm still being billed for the higher tier.",
        "How long does a refund usually take to show up? It's been {days} days.",
        "Our invoices should be addressed to the finance department, not to me personally.",
        "I think I was overcharged, order {order} should have been {amount2} and not {amount}.",
        "Can I split the payment for order {order} across two cards?",
        "Your system billed me in euros instead of dollars and my bank added a conversion fee.",
        "I want to dispute a charge of {amount} from {date}.",
        "The gift card I used on order {order} wasn't applied and I paid the full {amount}.",
        "Do you offer a student discount on the {plan}? {amount} a month is a lot for me.",
        "We were billed for {seats} seats but we only have {seats2} people on the team.",
        "Please update the VAT number and company name printed on our invoices.",
        "My free trial turned into a paid {plan} without any reminder, I'd like the {amount} back.",
        "Charged {amount} twice for order {order}, please refund the duplicate payment.",
        "Is the {amount} annual fee refundable if I cancel after {days} days?",
        "Why did my monthly bill go up to {amount2}? Nothing changed on our side.",
    ],
    "technical": [
        "The {app} crashes every time I open it on my {device}.",
        "I keep getting {error} when I try to sync my files.",
        "After updating to version {version} the {app} won't start anymore.",
        "Uploads get stuck at {percent}% and never finish.",
        "The {hw} won't pair with my {device} over Bluetooth.",
        "The dashboard is really slow, pages take 30+ seconds to load in {browser}.",
        "Push notifications stopped working on my {device} {date}.",
        "I'm seeing \"{errmsg}\" whenever I click Export.",
        "The {hw} keeps disconnecting from wifi every few minutes.",
        "Dark mode makes half of the text unreadable in the {app}.",
        "Search returns no results even for documents I know exist.",
        "Is the API down? All my requests return {error}.",
        "The firmware update on my {hw} failed halfway and now the light just blinks red.",
        "My changes aren't saving, when I reload the page everything is gone.",
        "The {app} uses 100% CPU on my {device} even when it's idle.",
        "Video calls keep freezing and the audio cuts out in {browser}.",
        "The {integration} integration stopped importing data {date}.",
        "I can't attach files bigger than 10MB, the upload just spins forever.",
        "The {hw} makes a buzzing noise and the battery dies after an hour.",
        "Printing from the {app} gives me blank pages.",
        "All my calendar events are shifted by one hour since the time change.",
        "Getting a certificate warning in {browser} when I open your site.",
        "The {app} won't install on my {device}, it says the OS is not supported.",
        "The {hw} doesn't show up at all when I plug it into my {device}.",
        "The CSV import fails with {error} on row {row}.",
        "The screen flickers when I use the {app} on an external monitor.",
        "Offline mode doesn't work, I lose my edits as soon as the connection drops.",
        "My {hw} restarts on its own about every {minutes} minutes.",
        "How do I factory reset the {hw}? It's stuck on the setup screen.",
        "The home screen widget stopped updating after version {version}.",
        "The {app} freezes when I open a file with more than {row} lines.",
        "Copy and paste doesn't work in the editor on {browser}, shortcuts do nothing.",
        "The {hw} app shows the device as offline even though it's on and connected.",
    ],
    "shipping": [
        "Where is my order {order}? It was supposed to arrive {date}.",
        "Tracking for {order} hasn't updated in {days} days.",
        "{carrier} tracking says delivered but there's nothing at my door.",
        "Can I change the shipping address on order {order}? I just moved to {city}.",
        "My package arrived with the box crushed and the {hw} inside is scratched.",
        "Do you ship to {country}? I couldn't find it in the list at checkout.",
        "I received the wrong item, I ordered a {hw} but got a {hw2}.",
        "How much is express shipping to {city}?",
        "Part of order {order} is missing, only {n} of the {n2} items were in the box.",
        "Can I pick up my order at a store instead of having it delivered?",
        "The courier left my parcel with a neighbor I don't even know.",
        "My order {order} has been \"processing\" for {days} days, when will it ship?",
        "I need the {hw} by Friday, it's a gift. Can you guarantee delivery?",
        "Can you email me a return label for order {order}? The {hw} doesn't fit my setup.",
        "The delivery driver never rang the bell and left a note saying I wasn't home.",
        "Can you combine my orders {order} and {order2} into one shipment?",
        "Customs is holding my package and asking for import fees, what should I do?",
        "The tracking number you sent for {order} doesn't work on the {carrier} website.",
        "I'm travelling until the {day}th, can you hold the shipment until then?",
        "My package went to my old address in {city}.",
        "How do I send back the {hw}? I still have the original packaging.",
        "The estimated delivery for {order} keeps moving, first it was {date} and now it says next week.",
        "Do you deliver on weekends? I work during the week and can't sign for it.",
        "The box was left out in the rain and the {hw} got wet.",
        "Which courier do you use for orders to {country}?",
        "Order {order} shows as shipped but {carrier} says they never received the parcel.",
        "I got two {hw}s but only ordered one, how do I send one back?",
        "Please stop order {order} before it ships, I picked the wrong color.",
        "Can you ship to a PO box? My street address doesn't get deliveries.",
        "The parcel was returned to sender, can you resend it to {city}?",
        "Is there any way to upgrade order {order} to next-day delivery?",
        "The {carrier} driver says my address doesn't exist, order {order} is stuck at the depot.",
    ],
    "account": [
        "I can't log in, it says my password is incorrect even right after resetting it.",
        "How do I change the email on my account to {email}?",
        "Please delete my account and all the data associated with it.",
        "My account got locked after too many login attempts.",
        "I lost my phone and can't get my two-factor codes anymore.",
        "Someone logged into my account from {country}, I think I've been hacked.",
        "How do I add a new team member to our workspace?",
        "I never got the verification email for my new account.",
        "Can I merge my two accounts? I accidentally signed up with {email} as well.",
        "How do I change my username? The old one has my maiden name in it.",
        "I want to transfer ownership of the workspace to my colleague {name}.",
        "The password reset link says it has expired every single time I click it.",
        "How do I remove my old phone number from my profile?",
        "My account was suspended and nobody told me why.",
        "I'd like to download a copy of all the personal data you store about me.",
        "Can I sign in with Google instead of a password?",
        "I forgot which email I signed up with, can you help me find my account?",
        "How do I turn on two-factor authentication?",
        "{name} left the company, how do I remove her access to our account?",
        "How do I change my display name and profile photo?",
        "Please unsubscribe me from marketing emails but keep my account open.",
        "Is it possible to have two profiles under the same email address?",
        "My profile shows someone else's name, did I get logged into the wrong account?",
        "I'd like to reactivate the account I closed back in {month}.",
        "How do I switch my account language to {language}?",
        "I'm the admin, how can I reset a user's password for them?",
        "My security questions were changed and it wasn't me.",
        "I'm getting emails for an account I never created under {email}.",
        "How do I update the phone number used for account recovery?",
        "The account owner was {name} who left, can we change the owner email to mine?",
        "Can I temporarily deactivate my profile without losing my data?",
        "How do I give {name} admin rights on our team account?",
    ],
}

# Tickets that plausibly belong to either of two classes; label picked at random.
AMBIGUOUS: list[tuple[str, tuple[str, str]]] = [
    ("My package {order} never arrived and I want a refund of {amount}.", ("billing", "shipping")),
    ("I paid {amount} for express shipping but order {order} took {days} days, can I get that back?", ("billing", "shipping")),
    ("I sent the {hw} back two weeks ago, when will I get my {amount} refunded?", ("shipping", "billing")),
    ("I was charged shipping on order {order} even though it was over the free shipping limit.", ("billing", "shipping")),
    ("I closed my account last month but you still charged me {amount}.", ("billing", "account")),
    ("How do I update the credit card saved on my account?", ("billing", "account")),
    ("I want to cancel my subscription and delete my profile.", ("account", "billing")),
    ("I can't log in to the {app}, it just shows {error}.", ("account", "technical")),
    ("The password reset email never arrives, I checked spam too.", ("account", "technical")),
    ("The two-factor codes from the {app} are always rejected as invalid.", ("account", "technical")),
    ("I keep getting logged out of the {app} every few minutes.", ("technical", "account")),
    ("The settings page gives {error} whenever I try to change my email.", ("technical", "account")),
    ("The checkout page freezes when I enter my card details.", ("billing", "technical")),
    ("I upgraded to the {plan} and paid {amount} but the premium features are still locked.", ("billing", "technical")),
    ("How do I change the default delivery address saved in my profile?", ("shipping", "account")),
    ("The tracking page for order {order} just shows {error}.", ("shipping", "technical")),
    ("The {hw} I received is dead on arrival and won't turn on.", ("technical", "shipping")),
    ("The {hw} from order {order} came without a charger so I can't even set it up.", ("shipping", "technical")),
]

PROPER_NOUNS = set(CARRIERS + NAMES + BROWSERS + INTEGRATIONS)

TYPOS: dict[str, str] = {
    "receive": "recieve", "received": "recieved", "address": "adress", "account": "acount",
    "password": "pasword", "because": "becuase", "payment": "paymnet", "tracking": "traking",
    "again": "agian", "the ": "teh ", "definitely": "definately", "delivery": "delivey",
    "subscription": "subcription", "doesn't": "doesnt", "can't": "cant", "I'm": "im",
}


def random_amount(rng: random.Random) -> str:
    """Return a price such as ``$29.99``."""
    cents = rng.choice(["99", "00", "49", "95", "50"])
    return f"${rng.randint(3, 349)}.{cents}"


def random_order(rng: random.Random) -> str:
    """Return an order number such as ``#48213``."""
    return f"#{rng.randint(10000, 99999)}"


def random_email(rng: random.Random) -> str:
    """Return a plausible email address."""
    return f"{rng.choice(EMAIL_USERS)}@{rng.choice(EMAIL_DOMAINS)}"


def make_slots(rng: random.Random) -> dict[str, str]:
    """Draw one value for every template slot."""
    hw, hw2 = rng.sample(HARDWARE, 2)
    n2 = rng.randint(2, 6)
    seats = rng.randint(5, 40)
    return {
        "plan": rng.choice(PLANS), "app": rng.choice(APPS), "hw": hw, "hw2": hw2,
        "device": rng.choice(DEVICES), "browser": rng.choice(BROWSERS),
        "error": rng.choice(ERRORS), "errmsg": rng.choice(ERROR_MESSAGES),
        "card": rng.choice(CARDS), "paymethod": rng.choice(PAY_METHODS),
        "carrier": rng.choice(CARRIERS), "city": rng.choice(CITIES),
        "country": rng.choice(COUNTRIES), "date": rng.choice(DATES),
        "month": rng.choice(MONTHS), "language": rng.choice(LANGUAGES),
        "integration": rng.choice(INTEGRATIONS), "name": rng.choice(NAMES),
        "email": random_email(rng), "promo": rng.choice(PROMOS),
        "amount": random_amount(rng), "amount2": random_amount(rng),
        "order": random_order(rng), "order2": random_order(rng),
        "days": str(rng.randint(3, 21)), "percent": str(rng.choice([10, 15, 20, 25, 40, 50, 87, 99])),
        "version": f"{rng.randint(2, 6)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
        "row": str(rng.randint(2, 5000)), "minutes": str(rng.choice([5, 10, 15, 20, 30])),
        "seats": str(seats), "seats2": str(rng.randint(2, seats - 1)),
        "n": str(rng.randint(1, n2 - 1)), "n2": str(n2), "day": str(rng.randint(4, 28)),
        "years": str(rng.randint(2, 9)),
    }


def add_typo(text: str, rng: random.Random) -> str:
    """Introduce one realistic typo (known misspelling or swapped letters)."""
    candidates = [word for word in TYPOS if word in text]
    if candidates and rng.random() < 0.6:
        word = rng.choice(candidates)
        return text.replace(word, TYPOS[word], 1)
    words = text.split(" ")
    long_idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_idx:
        return text
    i = rng.choice(long_idx)
    w = words[i]
    j = rng.randint(1, len(w) - 3)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def join_opener(opener: str, body: str, sep: str, rng: random.Random) -> str:
    """Join opener and body, usually lower-casing the body after "Hi," etc."""
    first_word = body.split(" ", 1)[0]
    keep_case = first_word == "I" or first_word.startswith("I'") or first_word in PROPER_NOUNS
    if opener.endswith(",") and not keep_case and rng.random() < 0.75:
        body = body[0].lower() + body[1:]
    return opener + sep + body


def compose(body: str, rng: random.Random) -> str:
    """Wrap a ticket body with optional opener, extra sentence and closer."""
    slots = make_slots(rng)
    opener = rng.choice(OPENERS).format(**slots)
    parts = [body]
    if rng.random() < 0.2:
        parts.append(rng.choice(EXTRAS))
    parts.append(rng.choice(CLOSERS))
    sep = "\n" if rng.random() < NEWLINE_PROB else " "
    first, *rest = [p.format(**slots) for p in parts if p]
    if opener:
        text = join_opener(opener, first, sep, rng) + (" " + " ".join(rest) if rest else "")
    else:
        text = first + sep + " ".join(rest) if rest else first
    if rng.random() < TYPO_PROB:
        text = add_typo(text, rng)
    if rng.random() < LOWERCASE_PROB:
        text = text.lower()
    if rng.random() < 0.1:
        text = text.rstrip(".!")
    return text.strip()


def generate_rows(
    rng: random.Random, targets: dict[str, int] = TARGETS, seen: set[str] | None = None
) -> list[tuple[str, str]]:
    """Generate unique (text, label) rows matching ``targets``, none of whose texts is in ``seen``."""
    seen = set() if seen is None else seen
    rows: list[tuple[str, str]] = []
    counts = {label: 0 for label in TARGETS}
    n_ambiguous = int(sum(targets.values()) * AMBIGUOUS_SHARE)
    while len(rows) < n_ambiguous:
        template, pair = rng.choice(AMBIGUOUS)
        label = rng.choice(pair)
        text = compose(template, rng)
        if text.lower() not in seen and counts[label] < targets[label]:
            seen.add(text.lower())
            rows.append((text, label))
            counts[label] += 1
    for label, target in targets.items():
        while counts[label] < target:
            text = compose(rng.choice(TEMPLATES[label]), rng)
            if text.lower() not in seen:
                seen.add(text.lower())
                rows.append((text, label))
                counts[label] += 1
    rng.shuffle(rows)
    return rows


def write_csv(rows: list[tuple[str, str]], path: Path) -> None:
    """Write rows to ``path`` as UTF-8 CSV with a ``text,label`` header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    """Generate the tickets and write them to examples/tickets.csv, and more of them, unlabeled, to unlabeled.txt."""
    rows = generate_rows(random.Random(SEED))
    write_csv(rows, OUTPUT)
    print(f"wrote {len(rows)} rows to {OUTPUT}")
    total = sum(TARGETS.values())
    targets = {label: n * UNLABELED_ROWS // total for label, n in TARGETS.items()}
    more = generate_rows(random.Random(SEED + 1), targets, {text.lower() for text, _ in rows})
    UNLABELED.write_text("".join(" ".join(text.split()) + "\n" for text, _ in more), encoding="utf-8")
    print(f"wrote {len(more)} texts to {UNLABELED}")


if __name__ == "__main__":
    main()
