#!/usr/bin/env python3
"""Generates data/demo.json: a demo conference and a few hundred made-up attendees.

Deterministic (fixed seed), so re-running it yields the same file and `techconf seed`
stays idempotent. Names are combined from short lists; every address is at example.org,
example.com or example.net (reserved for documentation), so no real person is emailed.
"""
import datetime as dt
import json
import random
import uuid
from pathlib import Path

ATTENDEES = 320
rng = random.Random(20271012)

FIRST = ["Ada", "Grace", "Alan", "Barbara", "Linus", "Margaret", "Dennis", "Frances", "Ken",
         "Radia", "Guido", "Katherine", "Bjarne", "Hedy", "John", "Anita", "Edsger", "Shafi",
         "Donald", "Sophie", "Tim", "Adele", "Niklaus", "Karen", "Leslie", "Mary", "Yukihiro",
         "Joan", "Andrew", "Lynn", "Rob", "Carol", "Jean", "Évariste", "Zoë", "Björn", "Chloé",
         "Mateo", "Aisha", "Kenji", "Priya", "Olusegun", "Ingrid", "Tomás", "Mei", "Santiago"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Torvalds", "Hamilton", "Ritchie", "Allen",
        "Thompson", "Perlman", "van Rossum", "Johnson", "Stroustrup", "Lamarr", "McCarthy",
        "Borg", "Dijkstra", "Goldwasser", "Knuth", "Wilson", "Berners-Lee", "Goldberg", "Wirth",
        "Spärck Jones", "Lamport", "Shaw", "Matsumoto", "Clarke", "Tanenbaum", "Conway", "Pike",
        "Shaw", "Sammet", "Galois", "O'Neil", "Nakamura", "Okafor", "Fernández", "Iyer", "Lindqvist"]
COMPANIES = ["Acme Cloud", "Blue Harbour Labs", "Northwind Systems", "Quantum Pixel",
             "Lisbon Data Co", "Rustacean Works", "Oak & Iron", "Tidewater Analytics",
             "Helix Robotics", "Granite Software", "Freelance", "City University"]
POSITIONS = ["Software Engineer", "Senior Engineer", "Engineering Manager", "CTO",
             "Data Scientist", "Site Reliability Engineer", "Student", "Product Manager",
             "Developer Advocate", "Security Engineer", "Researcher"]
PLACES = [("Lisbon", "Lisboa"), ("Porto", "Porto"), ("Seattle", "WA"), ("Austin", "TX"),
          ("Toronto", "ON"), ("Berlin", "BE"), ("Bangalore", "KA"), ("Lagos", "LA"),
          ("São Paulo", "SP"), ("Tokyo", "13"), ("Melbourne", "VIC"), ("Dublin", "D")]
INTERESTS = ["Async Rust", "Databases", "Observability", "WebAssembly", "Embedded",
             "Security", "Compilers", "Distributed systems", "Developer experience", None]
DOMAINS = ["example.org", "example.com", "example.net"]


def uuid7(at: dt.datetime) -> str:
    """A version 7 UUID for `at`, with seeded random bits."""
    ms = int(at.timestamp() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rng.getrandbits(12) << 64
    value |= 0b10 << 62
    value |= rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def slug(text: str) -> str:
    table = str.maketrans("ÉéëöäüçãõáíóúñøåÖÄÜ", "eeeoaucaoaiounoaOAU")
    return "".join(c for c in text.translate(table).lower() if c.isalnum())


def main() -> None:
    opened = dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.timezone.utc)
    conference = {
        "id": uuid7(opened - dt.timedelta(days=30)),
        "name": "TechConf Lisbon 2027",
        "starts_on": "2027-10-12",
        "price": 349.0,
        "address": "Centro de Congressos, Praça das Indústrias, 1300-307 Lisboa",
        "active": True,
    }
    attendees, emails = [], set()
    at = opened
    while len(attendees) < ATTENDEES:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{slug(first)}.{slug(last)}@{rng.choice(DOMAINS)}"
        if email in emails:
            email = email.replace("@", f"{len(attendees)}@")
        emails.add(email)
        at += dt.timedelta(minutes=rng.randint(5, 600), seconds=rng.randint(0, 59))
        city, state = rng.choice(PLACES)
        interest = rng.choice(INTERESTS)
        attendees.append({
            "id": uuid7(at),
            "first_name": first,
            "last_name": last,
            "email": email,
            "job_position": rng.choice(POSITIONS),
            "company": rng.choice(COMPANIES),
            "city": city,
            "state": state,
            "interests": interest,
            "comments": rng.choice([None, None, None, "Vegetarian lunch, please.",
                                    "First TechConf!", "Happy to give a lightning talk."]),
            "submitted_at": at.isoformat().replace("+00:00", "Z"),
        })
    out = Path(__file__).with_name("demo.json")
    out.write_text(json.dumps({"conference": conference, "attendees": attendees},
                              ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(attendees)} attendees)")


if __name__ == "__main__":
    main()
