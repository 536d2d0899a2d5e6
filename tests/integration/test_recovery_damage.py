"""Damaged log files: the broker starts, serves every record before the
damage, never serves a damaged batch, and goes on appending where the good
data ends. Indexes that are missing or wrong are rebuilt.

What the broker checks, and when (src/log/log.c load_segments/open_one,
src/log/segment.c rn_segment_recover/scan_tail), which decides how each
test stops the broker before it damages the files:

- After an unclean stop (no .runnel_cleanshutdown marker: kill -9), the
  active (last) segment is always re-read batch by batch (length, magic,
  CRC32C, offset continuity) and cut at the first bad byte; so is every
  earlier segment that the checkpointed recovery point has not passed
  (segment i when base(i+1) >= recovery point), and the segments after a
  cut one are removed. Segments below the recovery point are trusted.
  So damage to record contents is made after kill -9, in a segment that
  will be re-read (the last one, or one past the recovery-point file).
- After a clean stop (SIGTERM, marker written) nothing is CRC-checked: each
  segment's index files are loaded and the batch headers from the last
  offset-index entry to the end of the file are read (whole batches, magic,
  timestamps covered by the time index). A flipped byte inside a record is
  therefore not found after a clean stop (as in Kafka; not tested), but a
  torn or extended file, and a missing or inconsistent index, are: those
  tests run after both kinds of stop.

Each test produces with confluent-kafka (acks=all) in batches whose
boundaries it reads back from the .log file, damages the files while the
broker is down, restarts it on the same data, and checks the result with a
confluent-kafka consumer (CRC checking on) and with raw Fetch requests whose
every batch is CRC-checked here (kproto.decode_batches).
"""

import os
import random
import struct
import time

import pytest

import kproto
from helpers import unique_topic
from recovery_util import (append_bytes, check_index_files, create_topic, flip_byte,
                           offsets_for_times, parse_batches, partition_dir, produce_batches, raw_fetch_all,
                           read_partition, read_recovery_point, segment_bases, segment_path, truncate_file,
                           watermarks)

NBATCHES = 8
PER_BATCH = 5
VALUE_BYTES = 100
# Several segments of a few batches each, an index entry every other batch or so.
SMALL_SEGMENTS = ("log.segment.bytes=2048", "log.index.interval.bytes=600")


def setup_topic(start_broker, *overrides, nbatches=NBATCHES, per_batch=PER_BATCH, ts0=None):
    b = start_broker("num.partitions=1", *overrides)
    topic = unique_topic("rec")
    create_topic(b.bootstrap, topic, 1)
    records = produce_batches(b.bootstrap, topic, nbatches, per_batch, value_bytes=VALUE_BYTES, ts0=ts0)
    return b, topic, records


def stop(b, how):
    if how == "kill9":
        b.kill()
    else:
        b.stop()


def assert_serves_exactly(b, topic, expected):
    """The partition holds exactly `expected` [(offset, value, ...)] from 0:
    watermarks, a consumer read, and raw fetches with every batch CRC-checked."""
    want = [(o, v) for o, v, *_ in expected]
    assert watermarks(b.bootstrap, topic) == (0, len(want))
    got = [(o, v) for o, v, _ in read_partition(b.bootstrap, topic, 0, len(want))]
    assert got == want, "consumer read %d records, first difference at %s" % (len(got), first_diff(got, want))
    raw = raw_fetch_all(b.port, topic, 0, len(want))
    assert raw == want, "raw fetch read %d records, first difference at %s" % (len(raw), first_diff(raw, want))


def first_diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "index %d: got %r, want %r" % (i, g, w)
    return "index %d (lengths %d and %d)" % (min(len(got), len(want)), len(got), len(want))


def assert_cut_at(b, topic, records, cut):
    """Records [0, cut) served, nothing at or past cut; a new produce goes
    on at offset cut; all of it survives one more unclean and one more
    clean restart."""
    assert 0 < cut < len(records), "test set-up: cut %d of %d" % (cut, len(records))
    kept = records[:cut]
    assert_serves_exactly(b, topic, kept)
    more = produce_batches(b.bootstrap, topic, 2, 3, value_bytes=VALUE_BYTES, prefix=b"new", first_offset=cut)
    assert_serves_exactly(b, topic, kept + more)
    b.restart(kill9=True)
    assert_serves_exactly(b, topic, kept + more)
    b.restart()
    assert_serves_exactly(b, topic, kept + more)


def last_segment(pdir):
    base = segment_bases(pdir)[-1]
    return base, segment_path(pdir, base)


# ---------------------------------------------------------------- (a) a flipped byte in the last batch

# Where in the batch the byte is flipped: each is caught by a different check.
FLIP_AT = {
    "record": lambda bt: bt.pos + 61 + (bt.size - 61) // 2,  # CRC
    "crc": lambda bt: bt.pos + 18,                           # CRC
    "attributes": lambda bt: bt.pos + 22,                    # CRC (covered field)
    "magic": lambda bt: bt.pos + 16,                         # magic
    "batch_length": lambda bt: bt.pos + 11,                  # framing, then CRC
    "base_offset": lambda bt: bt.pos + 7,                    # offset continuity (not under the CRC)
    "last_offset_delta": lambda bt: bt.pos + 26,             # CRC
}


@pytest.mark.parametrize("where", sorted(FLIP_AT))
def test_flipped_byte_in_last_batch_cuts_that_batch_after_sigkill(start_broker, where):
    """kill -9, flip one byte of the last batch (the active segment is
    re-read after an unclean stop): the broker starts, serves every record
    before that batch, never the batch, and appends at its base offset."""
    b, topic, records = setup_topic(start_broker)
    b.kill()
    pdir = partition_dir(b, topic)
    _, log = last_segment(pdir)
    batches = parse_batches(log)
    assert len(batches) >= NBATCHES, "expected a batch per flush at least, found %d" % len(batches)
    last = batches[-1]
    flip_byte(log, FLIP_AT[where](last))
    b.start()
    assert_cut_at(b, topic, records, last.base_offset)


# ---------------------------------------------------------------- (b) a segment cut off mid-batch

TRUNCATE_AT = {
    "in_length": lambda bt: bt.pos + 10,      # not even a length
    "in_header": lambda bt: bt.pos + 30,      # a length, no whole header
    "in_records": lambda bt: bt.pos + bt.size // 2,
    "one_byte_short": lambda bt: bt.pos + bt.size - 1,
}


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
@pytest.mark.parametrize("where", sorted(TRUNCATE_AT))
def test_segment_truncated_mid_batch_is_cut_at_that_batch(start_broker, where, how):
    """Stop (kill -9, or SIGTERM: a clean start reads the batch headers past
    the last index entry and finds the tail torn), cut the segment inside
    its last batch: the partial batch is cut off, the rest served."""
    b, topic, records = setup_topic(start_broker)
    stop(b, how)
    _, log = last_segment(partition_dir(b, topic))
    last = parse_batches(log)[-1]
    truncate_file(log, TRUNCATE_AT[where](last))
    b.start()
    assert_cut_at(b, topic, records, last.base_offset)


# ---------------------------------------------------------------- (c), (d) missing or damaged indexes

def assert_all_served_with_good_indexes(b, topic, records, ts0):
    """Every record served; fetches starting inside batches work;
    offsets_for_times finds the first record at or after each timestamp;
    each segment's index files exist again and agree with its .log."""
    assert_serves_exactly(b, topic, records)
    n = len(records)
    with kproto.Conn(b.port) as c:
        for start in range(n):  # a fetch at each offset gets the batch holding it first
            err, _, data = c.fetch_v4(topic, 0, start, max_wait_ms=0, partition_max_bytes=1)
            assert err == 0, "fetch at offset %d: error %d" % (start, err)
            got = [(o, v) for o, _, v in kproto.decode_batches(data)]
            assert got and got[0][0] <= start <= got[-1][0], "fetch at offset %d got offsets %s" % (
                start, [o for o, _ in got])
            assert got == [(o, v) for o, v, _ in records[got[0][0]:got[-1][0] + 1]], "fetch at offset %d" % start
    for start in sorted({1, 2, n // 3, n // 2 + 1, n - 2, n - 1}):
        got = read_partition(b.bootstrap, topic, 0, n, start=start)
        assert [(o, v) for o, v, _ in got] == [(o, v) for o, v, _ in records[start:]], "read from %d" % start
    queries = {}
    for i in range(n):
        ts = ts0 + 1000 * i
        queries[ts] = i          # exactly a record's timestamp
        queries[ts - 500] = i    # between two records
    queries[ts0 - 10_000] = 0
    queries[ts0 + 1000 * (n - 1) + 1] = -1  # later than every record
    got = offsets_for_times(b.bootstrap, topic, 0, sorted(queries))
    wrong = [(ts, got[ts], want) for ts, want in sorted(queries.items()) if got[ts] != want]
    assert not wrong, "offsets_for_times (ts, got, want): %s" % wrong[:10]
    pdir = partition_dir(b, topic)
    for base in segment_bases(pdir):
        check_index_files(pdir, base)


def setup_indexed(start_broker, how):
    ts0 = int(time.time() * 1000) - 3_600_000
    b, topic, records = setup_topic(start_broker, *SMALL_SEGMENTS, nbatches=30, per_batch=3, ts0=ts0)
    stop(b, how)
    pdir = partition_dir(b, topic)
    bases = segment_bases(pdir)
    assert len(bases) >= 4, "test set-up: want several segments, have %d" % len(bases)
    if how == "sigterm":  # after a clean stop every segment has both files
        for base in bases:
            for ext in (".index", ".timeindex"):
                assert os.path.exists(segment_path(pdir, base, ext)), "no %s for segment %d" % (ext, base)
    return b, topic, records, ts0, pdir, bases


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.parametrize("which", [(".index", ".timeindex"), (".index",), (".timeindex",)],
                         ids=["both", "index", "timeindex"])
def test_deleted_index_files_are_rebuilt(start_broker, which, how):
    """Delete index files of every segment while the broker is down: it
    rebuilds them from the .log; every record is served, offsets_for_times
    is still right, and the rebuilt files agree with the log."""
    b, topic, records, ts0, pdir, bases = setup_indexed(start_broker, how)
    for base in bases:
        for ext in which:
            p = segment_path(pdir, base, ext)
            if os.path.exists(p):
                os.unlink(p)
    b.start()
    assert_all_served_with_good_indexes(b, topic, records, ts0)


def _garbage_random(data, rng):
    return bytes(rng.randrange(256) for _ in range(max(len(data), 64)))


def _garbage_zeros(data, rng):
    return bytes(max(len(data), 64))


def _garbage_partial_entry(data, rng):
    return data + b"\x01\x02\x03"


def _garbage_longer(data, rng):
    return data + bytes(rng.randrange(256) for _ in range(96))


def _garbage_past_the_log(data, rng):
    # Well-formed, increasing entries naming offsets and positions far past the segment's end.
    return b"".join(struct.pack(">ii", 1_000_000 + i, 10_000_000 + i * 100) for i in range(8))


CORRUPT_INDEX = {
    "random": _garbage_random,
    "zeros": _garbage_zeros,
    "partial_entry": _garbage_partial_entry,
    "random_tail": _garbage_longer,
    "past_the_log": _garbage_past_the_log,
}


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.parametrize("kind", sorted(CORRUPT_INDEX))
def test_corrupt_offset_index_is_rebuilt(start_broker, kind, how):
    """Overwrite every segment's .index with garbage while the broker is
    down: the broker finds it inconsistent, rebuilds it, serves every record
    and answers offsets_for_times correctly."""
    b, topic, records, ts0, pdir, bases = setup_indexed(start_broker, how)
    rng = random.Random(kind)
    for base in bases:
        p = segment_path(pdir, base, ".index")
        data = open(p, "rb").read() if os.path.exists(p) else b""
        with open(p, "wb") as f:
            f.write(CORRUPT_INDEX[kind](data, rng))
    b.start()
    assert_all_served_with_good_indexes(b, topic, records, ts0)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.parametrize("kind", ["random", "zeros", "partial_entry"])
def test_corrupt_time_index_is_rebuilt(start_broker, kind, how):
    """The same for every segment's .timeindex."""
    b, topic, records, ts0, pdir, bases = setup_indexed(start_broker, how)
    rng = random.Random(kind)
    for base in bases:
        p = segment_path(pdir, base, ".timeindex")
        data = open(p, "rb").read() if os.path.exists(p) else b""
        with open(p, "wb") as f:
            f.write(CORRUPT_INDEX[kind](data, rng))
    b.start()
    assert_all_served_with_good_indexes(b, topic, records, ts0)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.parametrize("which", ["all", "all_but_last"])
def test_offset_index_pointing_inside_batches_is_rebuilt(start_broker, which, how):
    """An .index whose entries look sound (increasing, inside the segment)
    but point 1 byte past the batch starts they name is inconsistent with
    the log: every record must still be served, from any start offset.
    all_but_last leaves the last entry right (the one a clean start reads
    the tail from)."""
    b, topic, records, ts0, pdir, bases = setup_indexed(start_broker, how)
    shifted = 0
    for base in bases:
        p = segment_path(pdir, base, ".index")
        if not os.path.exists(p):
            continue
        data = open(p, "rb").read()
        ents = [struct.unpack_from(">ii", data, i) for i in range(0, len(data), 8)]
        keep = 1 if which == "all_but_last" else 0
        out = [(rel, pos + 1) for rel, pos in ents[:len(ents) - keep]] + ents[len(ents) - keep:]
        shifted += len(ents) - keep
        with open(p, "wb") as f:
            f.write(b"".join(struct.pack(">ii", rel, pos) for rel, pos in out))
    assert shifted > 0, "test set-up: no index entry to damage"
    b.start()
    assert_all_served_with_good_indexes(b, topic, records, ts0)


# ---------------------------------------------------------------- (e) garbage after the last batch

def _copy_of_last_batch(rng, log):
    # A whole, well-formed batch (its CRC is right) whose offsets are already
    # taken, as if the last write had landed twice: offsets must not go back.
    last = parse_batches(log)[-1]
    with open(log, "rb") as f:
        f.seek(last.pos)
        return f.read(last.size)


GARBAGE = {
    "random": lambda rng, log: bytes(rng.randrange(256) for _ in range(200)),
    "zeros": lambda rng, log: bytes(4096),  # a file extended but never written, as after a power cut
    "header_only": lambda rng, log: struct.pack(">qi", 0, 1000) + bytes(49),  # a length the file does not hold
    "copy_of_last_batch": _copy_of_last_batch,
}


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_after_last_batch_is_cut_off(start_broker, kind, how):
    """Bytes appended after the last whole batch are cut off, after a clean
    stop too: the tail read at a clean start then no longer ends at a batch
    end, or (copy_of_last_batch) its offsets go back. Every record is served
    once and appends go on at the old end."""
    b, topic, records = setup_topic(start_broker)
    stop(b, how)
    _, log = last_segment(partition_dir(b, topic))
    size = os.path.getsize(log)
    append_bytes(log, GARBAGE[kind](random.Random(kind), log))
    b.start()
    assert_serves_exactly(b, topic, records)
    assert os.path.getsize(log) == size, "segment is %d bytes after recovery, was %d before the damage" % (
        os.path.getsize(log), size)
    more = produce_batches(b.bootstrap, topic, 1, 3, value_bytes=VALUE_BYTES, prefix=b"new",
                           first_offset=len(records))
    b.restart(kill9=True)
    assert_serves_exactly(b, topic, records + more)


# ---------------------------------------------------------------- (f) a flipped byte in a middle batch

def test_flipped_byte_in_middle_batch_truncates_from_there_after_sigkill(start_broker):
    """kill -9, flip a byte inside a record of a batch in the middle of the
    (active, so re-read) segment: the log is cut at that batch, later
    batches are gone although whole, everything before is served, new
    records take the damaged batch's offsets."""
    b, topic, records = setup_topic(start_broker)
    b.kill()
    _, log = last_segment(partition_dir(b, topic))
    batches = parse_batches(log)
    mid = batches[len(batches) // 2]
    flip_byte(log, mid.pos + 61 + (mid.size - 61) // 2)
    b.start()
    assert_cut_at(b, topic, records, mid.base_offset)


def test_flipped_byte_in_earlier_segment_past_recovery_point_removes_later_segments(start_broker):
    """With several segments: kill -9, then flip a byte in the middle batch
    of the first segment that recovery will re-read (base of the next
    segment >= the recovery-point file's offset). The log is cut there and
    every later segment is removed; appends continue at the cut."""
    b, topic, records = setup_topic(start_broker, *SMALL_SEGMENTS, nbatches=30, per_batch=3)
    b.kill()
    pdir = partition_dir(b, topic)
    bases = segment_bases(pdir)
    rp = read_recovery_point(pdir)
    rescanned = [i for i in range(len(bases)) if i + 1 == len(bases) or bases[i + 1] >= rp]
    i = rescanned[0]
    assert i + 1 < len(bases), ("test set-up: the recovery point (%d) passed every segment but the last "
                                "(bases %s); produce faster or less" % (rp, bases))
    batches = parse_batches(segment_path(pdir, bases[i]))
    assert len(batches) >= 3, "test set-up: segment %d has %d batches" % (bases[i], len(batches))
    mid = batches[len(batches) // 2]
    flip_byte(segment_path(pdir, bases[i]), mid.pos + 61 + (mid.size - 61) // 2)
    b.start()
    assert segment_bases(pdir)[-1] <= mid.base_offset, "segments after the cut remain: %s" % segment_bases(pdir)
    assert_cut_at(b, topic, records, mid.base_offset)
