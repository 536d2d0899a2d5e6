"""Many connections at once, pipelined requests, ApiVersions negotiation."""

import selectors
import socket
import struct
import time

import kproto


def test_200_concurrent_connections_all_get_api_versions_answers(broker):
    n = 200
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
            socks.append(s)
        # Every request is sent before any answer is read.
        for i, s in enumerate(socks):
            s.sendall(kproto.frame(kproto.request_header(kproto.API_API_VERSIONS, 0, 1000 + i)))
        sel = selectors.DefaultSelector()
        bufs = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = b""
        answered = {}
        deadline = time.monotonic() + 20
        while len(answered) < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                i = key.data
                chunk = key.fileobj.recv(65536)
                assert chunk, "connection %d closed without an answer" % i
                bufs[i] += chunk
                b = bufs[i]
                if len(b) >= 4 and len(b) >= 4 + struct.unpack(">i", b[:4])[0]:
                    r = kproto.Reader(b[4:4 + struct.unpack(">i", b[:4])[0]])
                    assert r.i32() == 1000 + i
                    err, apis, _ = kproto.parse_api_versions(r, 0)
                    assert err == 0 and kproto.API_FETCH in apis
                    answered[i] = True
                    sel.unregister(key.fileobj)
        assert len(answered) == n, "%d of %d connections answered within 20 s" % (len(answered), n)
    finally:
        for s in socks:
            s.close()
    assert broker.running()


def test_pipelined_requests_on_one_connection_are_answered_in_order(broker):
    with kproto.Conn(broker.port) as c:
        cids = list(range(100, 150))
        c.send_raw(b"".join(kproto.frame(kproto.request_header(kproto.API_API_VERSIONS, 0, cid)) for cid in cids))
        for cid in cids:
            r = c.recv_response(cid)
            assert kproto.parse_api_versions(r, 0)[0] == 0


def test_api_versions_lists_the_apis_clients_need(broker):
    with kproto.Conn(broker.port) as c:
        err, apis, _ = c.api_versions(0)
    assert err == 0
    needed = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions", 19: "CreateTopics",
              20: "DeleteTopics", 32: "DescribeConfigs", 37: "CreatePartitions", 60: "DescribeCluster"}
    missing = [name for key, name in needed.items() if key not in apis]
    assert not missing, "missing from ApiVersions: %s" % missing
    for key, (lo, hi) in apis.items():
        assert 0 <= lo <= hi, (key, lo, hi)
    assert apis[18][0] == 0 and apis[18][1] >= 3, apis[18]


def test_api_versions_v3_flexible_request_is_answered(broker):
    with kproto.Conn(broker.port) as c:
        err, apis, r = c.api_versions(3)
        throttle = r.i32()
        r.tags()
    assert err == 0 and throttle == 0
    assert kproto.API_PRODUCE in apis


def test_api_versions_with_unsupported_version_answers_v0_with_UNSUPPORTED_VERSION_and_the_list(broker):
    with kproto.Conn(broker.port) as c:
        cid = c.send_request(kproto.API_API_VERSIONS, 99, kproto.compact_string("x") + kproto.compact_string("1")
                             + kproto.NO_TAGS, flexible=True)
        r = c.recv_response(cid)
        err, apis, _ = kproto.parse_api_versions(r, 0)
        assert err == kproto.UNSUPPORTED_VERSION
        assert apis.get(18, (None, None))[0] == 0, apis
        assert kproto.API_PRODUCE in apis
        # The connection stays usable.
        assert c.api_versions(0)[0] == 0


def test_one_connection_serves_many_sequential_requests(broker):
    with kproto.Conn(broker.port) as c:
        for _ in range(2000):
            assert c.api_versions(0)[0] == 0
