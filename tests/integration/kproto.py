"""kproto - a tiny hand-written Kafka wire codec for black-box tests.

Used where the real clients cannot say what a test needs to say: malformed
frames, unsupported versions, corrupt batches, exact timing of one Fetch.
Only the few requests the tests send are encoded here, in fixed versions:

    ApiVersions (18) v0, v3 and v99   Produce (0) v3   Fetch (1) v4
    Metadata (3) v4                   ListOffsets (2) v1
    DescribeCluster (60) v0

Framing: every request and response is an int32 size followed by that many
bytes. Request header v1: api_key int16, api_version int16, correlation_id
int32, client_id nullable string; v2 adds tagged fields (flexible versions).
Response header v0: correlation_id int32; v1 adds tagged fields (flexible
versions except ApiVersions, whose response header is always v0).
"""

import socket
import struct
import time

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18
API_DESCRIBE_CLUSTER = 60

# Kafka error codes used by the tests.
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87


class ConnectionClosed(Exception):
    """The broker closed the connection before a whole response arrived."""


# ---------------------------------------------------------------- encoding

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def u32(v):
    return struct.pack(">I", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    """Non-compact nullable string: int16 length (-1 for None) + bytes."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def bytes_(b):
    """Non-compact nullable bytes: int32 length (-1 for None) + bytes."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items):
    """Non-compact array of already-encoded items (None: null array)."""
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def uvarint(v):
    assert v >= 0
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    """Zig-zag signed varint (records use these)."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def compact_array(items):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


NO_TAGS = uvarint(0)


def request_header(api_key, api_version, correlation_id, client_id="runnel-tests", flexible=False):
    h = i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)
    if flexible:
        h += NO_TAGS
    return h


def frame(payload):
    return i32(len(payload)) + payload


# ---------------------------------------------------------------- decoding

class Reader:
    """Cursor over a response body; every read checks the bytes present."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("response truncated: need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def boolean(self):
        return self.i8() != 0

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item(self) for _ in range(n)]

    def uvarint(self):
        shift = 0
        v = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def compact_array(self, item):
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())

    def remaining(self):
        return len(self.data) - self.pos


# ---------------------------------------------------------------- connection

class Conn:
    """One TCP connection to the broker speaking raw frames."""

    def __init__(self, port, host="127.0.0.1", timeout_s=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_correlation_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_request(self, api_key, api_version, body, flexible=False, client_id="runnel-tests"):
        """Sends one framed request; returns its correlation id."""
        cid = self.next_correlation_id
        self.next_correlation_id += 1
        self.send_raw(frame(request_header(api_key, api_version, cid, client_id, flexible) + body))
        return cid

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionClosed("closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        size = struct.unpack(">i", self.recv_exact(4))[0]
        if size < 4:
            raise ValueError("response frame size %d" % size)
        return self.recv_exact(size)

    def recv_response(self, expect_correlation_id, flexible_header=False):
        """Reads one response; checks its correlation id; returns a Reader on the body."""
        r = Reader(self.recv_frame())
        cid = r.i32()
        if cid != expect_correlation_id:
            raise AssertionError("correlation id %d, expected %d" % (cid, expect_correlation_id))
        if flexible_header:
            r.tags()
        return r

    def is_closed_by_peer(self, wait_s=5.0):
        """True when the broker closes the connection (EOF or reset) within wait_s
        without sending anything; False if it stays open; raises if bytes arrive."""
        self.sock.settimeout(wait_s)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if data:
            raise AssertionError("expected close, got %d bytes: %r" % (len(data), data[:64]))
        return True

    def closes_or_answers(self, wait_s=5.0):
        """For inputs where either reaction is acceptable: 'closed', 'answered'
        (some bytes arrived) or 'open' (nothing within wait_s)."""
        self.sock.settimeout(wait_s)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return "open"
        except ConnectionResetError:
            return "closed"
        return "answered" if data else "closed"

    # ------------------------------------------------------------ requests

    def api_versions(self, version=0):
        """ApiVersions; returns (error_code, {api_key: (min, max)}, raw Reader).

        v0-v2 bodies are empty; v3+ carry client software name and version and
        use the flexible request header. The response header is always v0 and,
        per KIP-511, an unsupported version is answered in the v0 layout."""
        if version >= 3:
            body = compact_string("runnel-tests") + compact_string("0.1") + NO_TAGS
            cid = self.send_request(API_API_VERSIONS, version, body, flexible=True)
        else:
            cid = self.send_request(API_API_VERSIONS, version, b"")
        r = self.recv_response(cid)
        return parse_api_versions(r, version)

    def metadata_v4(self, topics, allow_auto_topic_creation=True):
        """Metadata v4. topics=None asks for all topics."""
        body = array(None if topics is None else [string(t) for t in topics])
        body += i8(1 if allow_auto_topic_creation else 0)
        cid = self.send_request(API_METADATA, 4, body)
        r = self.recv_response(cid)
        return parse_metadata_v4(r)

    def produce_v3(self, topic, partition, records, acks=-1, timeout_ms=10000):
        """Produce v3 of one record set (bytes) to one partition.
        Returns (error_code, base_offset, log_append_time)."""
        body = string(None) + i16(acks) + i32(timeout_ms)
        body += array([string(topic) + array([i32(partition) + bytes_(records)])])
        cid = self.send_request(API_PRODUCE, 3, body)
        if acks == 0:
            return None
        r = self.recv_response(cid)
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
        r.i32()  # throttle_time_ms
        (name, parts), = topics
        assert name == topic, name
        (idx, err, base, lat), = parts
        assert idx == partition
        return err, base, lat

    def fetch_v4(self, topic, partition, offset, max_wait_ms, min_bytes=1,
                 max_bytes=1 << 20, partition_max_bytes=1 << 20):
        """Fetch v4 of one partition. Returns (error_code, high_watermark, records bytes)."""
        body = i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
        body += array([string(topic) + array([i32(partition) + i64(offset) + i32(partition_max_bytes)])])
        cid = self.send_request(API_FETCH, 4, body)
        r = self.recv_response(cid)
        r.i32()  # throttle_time_ms
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (
            r.i32(), r.i16(), r.i64(), r.i64(),
            r.array(lambda r: (r.i64(), r.i64())),
            r.bytes_()))))
        (name, parts), = topics
        assert name == topic, name
        (idx, err, hw, _lso, _aborted, records), = parts
        assert idx == partition
        return err, hw, records or b""

    def list_offsets_v1(self, topic, partition, timestamp):
        """ListOffsets v1 (-1 latest, -2 earliest). Returns (error_code, timestamp, offset)."""
        body = i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])
        cid = self.send_request(API_LIST_OFFSETS, 1, body)
        r = self.recv_response(cid)
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
        (name, parts), = topics
        (idx, err, ts, off), = parts
        return err, ts, off

    def describe_cluster_v0(self):
        """DescribeCluster v0 (flexible). Returns a dict of the response fields."""
        body = i8(0) + NO_TAGS  # include_cluster_authorized_operations, tags
        cid = self.send_request(API_DESCRIBE_CLUSTER, 0, body, flexible=True)
        r = self.recv_response(cid, flexible_header=True)
        out = {"throttle_time_ms": r.i32(), "error_code": r.i16(), "error_message": r.compact_string(),
               "cluster_id": r.compact_string(), "controller_id": r.i32()}

        def broker(r):
            b = {"broker_id": r.i32(), "host": r.compact_string(), "port": r.i32(), "rack": r.compact_string()}
            r.tags()
            return b

        out["brokers"] = r.compact_array(broker)
        out["cluster_authorized_operations"] = r.i32()
        r.tags()
        return out


def parse_api_versions(r, version):
    err = r.i16()
    flexible = version >= 3 and err != UNSUPPORTED_VERSION

    def entry(r):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        if flexible:
            r.tags()
        return k, (lo, hi)

    entries = r.compact_array(entry) if flexible else r.array(entry)
    return err, dict(entries or []), r


def parse_metadata_v4(r):
    out = {"throttle_time_ms": r.i32()}
    out["brokers"] = r.array(lambda r: {"node_id": r.i32(), "host": r.string(), "port": r.i32(), "rack": r.string()})
    out["cluster_id"] = r.string()
    out["controller_id"] = r.i32()

    def partition(r):
        return {"error_code": r.i16(), "partition_index": r.i32(), "leader_id": r.i32(),
                "replica_nodes": r.array(lambda r: r.i32()), "isr_nodes": r.array(lambda r: r.i32())}

    def topic(r):
        return {"error_code": r.i16(), "name": r.string(), "is_internal": r.boolean(),
                "partitions": r.array(partition)}

    out["topics"] = {t["name"]: t for t in r.array(topic)}
    return out


# ---------------------------------------------------------------- record batches

_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record(offset_delta, key, value, timestamp_delta=0, headers=()):
    body = i8(0) + varint(timestamp_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hk = hk.encode()
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def record_batch(values, base_timestamp=None, corrupt_crc=False, records_count=None, attributes=0):
    """An uncompressed magic-2 batch of (key, value) pairs at base offset 0.
    corrupt_crc flips the CRC; records_count overrides the declared count."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = b"".join(record(i, k, v) for i, (k, v) in enumerate(values))
    n = len(values)
    after_crc = (i16(attributes) + i32(n - 1) + i64(base_timestamp) + i64(base_timestamp)
                 + i64(-1) + i16(-1) + i32(-1)
                 + i32(n if records_count is None else records_count) + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    after_length = i32(-1) + i8(2) + u32(crc) + after_crc  # leader epoch, magic, crc
    return i64(0) + i32(len(after_length)) + after_length


def decode_batches(data):
    """Decodes uncompressed magic-2 batches; returns [(offset, key, value)].
    A partial batch at the end (allowed in Fetch responses) is ignored."""
    out = []
    r = Reader(data)
    while r.remaining() >= 12:
        base = r.i64()
        length = r.i32()
        if length > r.remaining():
            break
        b = Reader(r.take(length))
        b.i32()  # leader epoch
        assert b.i8() == 2, "magic"
        crc = struct.unpack(">I", b.take(4))[0]
        rest = b.data[b.pos:]
        assert crc32c(rest) == crc, "batch CRC"
        attrs = b.i16()
        assert attrs & 7 == 0, "compressed batch"
        b.take(4 + 8 + 8 + 8 + 2 + 4)
        count = b.i32()
        for _ in range(count):
            b.varint()  # length
            b.i8()
            b.varint()
            delta = b.varint()
            kl = b.varint()
            key = None if kl < 0 else b.take(kl)
            vl = b.varint()
            value = None if vl < 0 else b.take(vl)
            for _ in range(b.varint()):
                b.take(b.varint())
                hl = b.varint()
                if hl >= 0:
                    b.take(hl)
            out.append((base + delta, key, value))
    return out


def wait_port(port, timeout_s=10.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
