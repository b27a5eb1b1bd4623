"""Masking and template mining: ids fixed at first sight, merges, seeding, caches, bounded
memory."""

from __future__ import annotations

import pytest

from logsentinel.parsing import Template, TemplateMiner
from logsentinel.parsing.masking import mask, mask_marked
from logsentinel.parsing.templates import template_id


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET /api/v1/orders/42 from 10.0.0.7 took 23ms", "GET <PATH> from <IP> took <NUM>"),
        ("user 550e8400-e29b-41d4-a716-446655440000 ok", "user <UUID> ok"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 ptr 0x7ffd1a", "trace <NUM> ptr <HEX>"),
        ("peer 2001:db8:85a3::8a2e:370:7334 and fe80::1 gone", "peer <IP> and <IP> gone"),
        ("pod checkout-7d9f8b6c5d-x2x9k restarted", "pod <ID> restarted"),
        ("see https://example.com/a/b?x=1 now", "see <URL> now"),
        ("retry 3 of 5, waited 1.5s (99%).", "retry <NUM> of <NUM>, waited <NUM> (<NUM>)."),
        ("from 10.2.3.4: refused", "from <IP>: refused"),
        ("value=42 utf8 HTTP/1.1", "value=<NUM> utf<NUM> HTTP/<NUM>.<NUM>"),
        ("rhost=218.188.2.4 uid=0 user=root", "rhost=<IP> uid=<NUM> user=root"),
        ("at 12:30:45 in Handler.java:120", "at <NUM> in Handler.java:<NUM>"),
        ("no variables here", "no variables here"),
        ("/health and and/or", "/health and and/or"),
    ],
)
def test_masking(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "values",
    [
        # hex ids: all decimal digits or not, 7, 8 or 12 digits long
        ["12345678", "1a2b3c4d", "deadbee1", "123456789012", "12345678901a", "a64f992", "9f4ef63"],
        # numbers of any length
        ["7", "42", "1234567", "12345678", "1445144423722"],
    ],
)
def test_numbers_and_hex_ids_get_one_mask_whatever_their_digits(values: list[str]) -> None:
    assert {mask(f"request {value} done") for value in values} == {"request <NUM> done"}


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.7:8080",
        "db.shop.svc:5432",
        "kafka-0.kafka-headless:9092",
        "localhost:8080",
        "[::1]:80",
        "[2001:db8::1]:443",
    ],
)
def test_host_port_gets_one_mask_whatever_the_host(address: str) -> None:
    assert mask(f"connected to {address} ok") == "connected to <ADDR> ok"


def test_compound_tokens_mask_their_numbers_and_hex_segments_alike() -> None:
    assert mask("block blk_-6952295868487656571 x") == mask("block blk_38865049064 x")
    assert mask("00000007@2016/9/27:20:30:31.462 x") == mask("0000000f@2016/9/27:20:40:54.786 x")
    assert mask("job_1445144423722_0020 user7") == "job_<NUM>_<NUM> user<NUM>"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("brokers 10.0.0.1:9092,10.0.0.2:9092,10.0.0.3:9092 up", "brokers <ADDR> up"),
        ("brokers 10.0.0.1:9092 up", "brokers <ADDR> up"),
        ("ids [1, 2, 3] left", "ids [<NUM>] left"),
        ("ids [1] left", "ids [<NUM>] left"),
        ("ports=80,443,8080 open", "ports=<NUM> open"),
        ("a=1, b=2", "a=<NUM>, b=<NUM>"),
    ],
)
def test_lists_of_masked_items_become_one_mask(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_masking_marks_random_letters() -> None:
    assert mask_marked("took 23ms from 10.0.0.7") == ("took <NUM> from <IP>", False)
    assert mask_marked("trace 4bf92f3577b34da6 done")[1]
    assert mask_marked("pod checkout-7d9f8b6c5d-x2x9k up")[1]
    assert not mask_marked("trace 4445923577134006 done")[1]


def test_a_new_template_is_named_by_a_hash_of_its_first_text() -> None:
    assert template_id("user <*> logged in") == template_id("user <*> logged in")
    assert len(template_id("x")) == 16
    assert template_id("a") != template_id("b")
    # Pinned: every processor, in every version, must give this text this id.
    assert template_id("disk full on <PATH>") == "5aab5ccc330d1ccc"
    assert TemplateMiner().match("disk full on /var/lib/data").id == "5aab5ccc330d1ccc"


def test_two_miners_give_the_same_id_to_the_same_template() -> None:
    lines = [f"order {number} shipped to zone {number % 3}" for number in range(20)]
    words = [f"login ok for {name}" for name in ("alice", "bob", "carol")]
    first, second = TemplateMiner(), TemplateMiner()
    assert [first.match(line) for line in lines + words] == [
        second.match(line) for line in lines + words
    ]


def test_numbers_do_not_make_new_templates() -> None:
    miner = TemplateMiner()
    templates = {
        miner.match(f"payment {n} took {n * 3}ms from 10.0.0.{n % 200}") for n in range(500)
    }
    assert templates == {
        Template(
            template_id("payment <NUM> took <NUM> from <IP>"), "payment <NUM> took <NUM> from <IP>"
        )
    }
    assert miner.misses == 1
    assert miner.hit_ratio > 0.99


def test_an_id_survives_generalisation_and_cached_lines_follow_the_text() -> None:
    miner = TemplateMiner()
    alice = miner.match("login ok for alice")
    bob = miner.match("login ok for bob")
    assert alice == Template(template_id("login ok for alice"), "login ok for alice")
    assert bob == Template(alice.id, "login ok for <*>")
    assert miner.match("login ok for alice") == bob  # a cache hit, now generalised
    assert miner.match("login ok for carol") == bob
    assert miner.text_of(alice.id) == "login ok for <*>"


def test_what_was_learnt_is_reported_once() -> None:
    miner = TemplateMiner()
    first = miner.match("login ok for alice")
    miner.match("login ok for bob")
    learnt = miner.learnt()
    assert learnt.templates == {first.id: "login ok for <*>"}
    assert learnt.aliases == {"login ok for alice": first.id, "login ok for <*>": first.id}
    assert learnt.merges == {}
    miner.match("login ok for carol")
    assert not miner.learnt()


def test_a_cluster_generalising_to_a_known_text_keeps_its_id_and_records_a_merge() -> None:
    seeded = TemplateMiner()
    seeded.seed([("1111222233334444", "login ok for <*>")])
    other = TemplateMiner()
    other.seed([], aliases=[("login ok for <*>", "1111222233334444")])
    alice = other.match("login ok for alice")  # a new cluster: the text is not registered
    assert alice.id == template_id("login ok for alice")
    bob = other.match("login ok for bob")
    assert bob == Template(alice.id, "login ok for <*>")
    learnt = other.learnt()
    assert learnt.merges == {alice.id: "1111222233334444"}
    assert "login ok for <*>" not in learnt.aliases  # the text keeps its first id
    assert other.event_of(alice.id) == "1111222233334444"
    assert other.event_of("1111222233334444") == "1111222233334444"
    assert seeded.match("login ok for dave").id == "1111222233334444"


def test_a_new_cluster_with_a_registered_text_reuses_its_id() -> None:
    miner = TemplateMiner()
    miner.seed([], aliases=[("disk full on <PATH>", "aaaabbbbccccdddd")])
    assert miner.match("disk full on /var/lib/data").id == "aaaabbbbccccdddd"
    assert miner.learnt().templates == {"aaaabbbbccccdddd": "disk full on <PATH>"}


def test_seeding_gives_new_lines_of_stored_events_their_stored_ids() -> None:
    first = TemplateMiner()
    lines = [
        "login ok for alice",
        "login ok for bob",
        "order 12 shipped to zone 3",
        "cache evicted 4 keys in 12ms",
        "worker w1 picked job 7 from queue emails",
        "worker w2 picked job 8 from queue invoices",
    ]
    ids = {line: first.match(line).id for line in lines}
    learnt = first.learnt()
    restarted = TemplateMiner()
    made = restarted.seed(learnt.templates.items(), learnt.aliases.items(), learnt.merges.items())
    assert made == len(set(ids.values()))
    assert restarted.match("login ok for erin").id == ids["login ok for alice"]
    assert restarted.match("order 99 shipped to zone 1").id == ids["order 12 shipped to zone 3"]
    assert restarted.match("worker w9 picked job 1 from queue sms").id == ids[lines[4]]
    assert restarted.text_of(ids[lines[4]]) == first.text_of(ids[lines[4]])
    assert not restarted.learnt()  # nothing new: the seeded templates are stored already


def test_a_merged_id_is_seeded_with_a_cluster_of_its_own_text() -> None:
    miner = TemplateMiner()
    miner.seed(
        [("a" * 16, "login ok for <*>"), ("b" * 16, "login ok for <*>")],
        aliases=[("login ok for <*>", "b" * 16)],
        merges=[("a" * 16, "b" * 16)],
    )
    assert miner.match("login ok for zed").id == "a" * 16
    assert miner.text_of("b" * 16) == "login ok for <*>"
    assert miner.event_of("a" * 16) == "b" * 16


def test_seeding_keeps_the_most_recent_when_there_are_too_many() -> None:
    miner = TemplateMiner(max_templates=3)
    stored = [(f"{n:016x}", f"event number {word} happened") for n, word in enumerate("abcde")]
    miner.seed(stored)
    assert miner.match("event number e happened").id == f"{4:016x}"
    assert len(miner._drain.id_to_cluster) <= 3


def test_different_messages_get_different_templates() -> None:
    miner = TemplateMiner()
    assert miner.match("connection refused by db") != miner.match("disk quota exceeded on volume")


def test_random_ids_do_not_fill_the_shape_cache() -> None:
    miner = TemplateMiner(max_templates=100, cache_size=50)
    for number in range(300):
        miner.match(f"request {number:032x} done")
    assert len(miner._cluster_of_shape) <= 50
    assert len(miner._cluster_of) <= 50
    assert len({miner.match(f"request {n:032x} done") for n in range(10)}) == 1


def test_memory_stays_bounded_with_many_distinct_templates() -> None:
    miner = TemplateMiner(max_templates=20, cache_size=40)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    for index in range(3000):
        first, second, third = (words[(index // 8**k) % 8] for k in range(3))
        miner.match(f"{first} {second} {third} {index % 7} {first}{second}")
        if index % 500 == 0:
            miner.learnt()
    assert len(miner._cluster_of) <= 40
    assert len(miner._cluster_of_shape) <= 40
    assert len(miner._drain.id_to_cluster) <= 20
    assert len(miner) <= 2 * 40 + 20
    assert len(miner._registry) <= 40
    assert len(miner._merged_into) <= 20
    assert len(miner._text_of_id) <= len(miner) + 20


def test_what_nobody_collects_stays_bounded() -> None:
    miner = TemplateMiner(max_templates=20, cache_size=40)
    for index in range(2000):
        miner.match(f"event {index:x}{'q' * (index % 50)} z{'w' * (index % 7)} happened")
    learnt = miner.learnt()
    assert len(learnt.templates) <= 40
    assert len(learnt.aliases) <= 40
    assert len(learnt.merges) <= 40


def test_long_messages_are_templated_on_their_start() -> None:
    miner = TemplateMiner()
    head = "batch import failed " * 60
    assert miner.match(head + "tail one") == miner.match(head + "something else entirely")


def test_max_templates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_templates"):
        TemplateMiner(max_templates=0)
