// sarama_check drives the Go client sarama (Debian's
// golang-github-shopify-sarama-dev, 1.22) against a running runneld and
// reports every check as one JSON line on stdout:
//
//	{"check": "<name>", "ok": true|false, "error": "...", "detail": ...}
//
// test_sarama.py builds it (GOPATH mode, offline) and asserts on those lines.
//
// Usage:
//
//	sarama_check -broker 127.0.0.1:9092 -version 2.2.0 -scenario admin|sync|async-<codec>|group
//	             [-proxy 127.0.0.1:PORT]
//
// With -proxy, sarama talks to the broker through a TCP relay listening on
// that address (the broker must advertise it, advertised.listeners) that
// records the (api key, api version) of every request; a final
// "api_versions" line lists them. sarama 1.22 sends no ApiVersions request:
// it picks request versions from Config.Version alone.
//
// The whole run is bounded by -timeout; when it runs out, a "timeout" check
// line is printed and the program exits 3.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// ---------------------------------------------------------------- output

var outMu sync.Mutex
var failures int

type line struct {
	Check  string      `json:"check"`
	OK     bool        `json:"ok"`
	Error  string      `json:"error,omitempty"`
	Detail interface{} `json:"detail,omitempty"`
}

func emit(check string, err error, detail interface{}) bool {
	l := line{Check: check, OK: err == nil, Detail: detail}
	if err != nil {
		l.Error = err.Error()
	}
	b, _ := json.Marshal(l)
	outMu.Lock()
	defer outMu.Unlock()
	if err != nil {
		failures++
	}
	os.Stdout.Write(append(b, '\n'))
	return err == nil
}

// ---------------------------------------------------------------- request-recording relay

var apiNames = map[int16]string{
	0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
	10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
	15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
	20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
	32: "DescribeConfigs", 33: "AlterConfigs", 37: "CreatePartitions", 42: "DeleteGroups",
	44: "IncrementalAlterConfigs", 47: "OffsetDelete", 60: "DescribeCluster",
}

type recorder struct {
	mu   sync.Mutex
	seen map[int16]map[int16]int // api key -> version -> requests
}

func (r *recorder) add(key, version int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] == nil {
		r.seen[key] = map[int16]int{}
	}
	r.seen[key][version]++
}

// summary: {"Produce": {"3": 12}, ...}
func (r *recorder) summary() map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]int{}
	for k, vs := range r.seen {
		name, ok := apiNames[k]
		if !ok {
			name = fmt.Sprintf("ApiKey%d", k)
		}
		m := map[string]int{}
		for v, n := range vs {
			m[fmt.Sprint(v)] = n
		}
		out[name] = m
	}
	return out
}

func startRelay(listen, target string, rec *recorder) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c, target, rec)
		}
	}()
	return nil
}

func relay(client net.Conn, target string, rec *recorder) {
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	go func() {
		io.Copy(client, server)
		client.Close()
		server.Close()
	}()
	defer client.Close()
	defer server.Close()
	var size [4]byte
	for {
		if _, err := io.ReadFull(client, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > 64<<20 {
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(client, frame); err != nil {
			return
		}
		if n >= 4 {
			rec.add(int16(binary.BigEndian.Uint16(frame[0:2])), int16(binary.BigEndian.Uint16(frame[2:4])))
		}
		if _, err := server.Write(append(size[:], frame...)); err != nil {
			return
		}
	}
}

// ---------------------------------------------------------------- common

var (
	addrs   []string
	version sarama.KafkaVersion
	runID   = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
)

func newConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = "runnel-sarama-check"
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 15 * time.Second
	c.Net.WriteTimeout = 5 * time.Second
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 200 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	c.Consumer.Group.Rebalance.Retry.Max = 10
	c.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	return c
}

func topicName(prefix string) string { return fmt.Sprintf("sarama-%s-%s", prefix, runID) }

// rec is one record as produced; headers keep their order.
type rec struct {
	key       []byte
	value     []byte
	headers   []sarama.RecordHeader
	timestamp time.Time
}

var baseTime = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

// makeRecords builds n records exercising null keys, null and empty values,
// no headers, several headers, a header with a null value, and values long
// and repetitive enough for the codecs to shrink.
func makeRecords(prefix string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		r := rec{
			key:       []byte(fmt.Sprintf("%s-key-%d", prefix, i)),
			value:     []byte(fmt.Sprintf("%s-value-%d-%s", prefix, i, strings.Repeat("runnel", i%40))),
			timestamp: baseTime.Add(time.Duration(i) * time.Millisecond),
		}
		switch {
		case i%7 == 3:
			r.key = nil
		case i%13 == 5:
			r.key = []byte{}
		}
		switch {
		case i%17 == 9:
			r.value = nil
		case i%11 == 4:
			r.value = []byte{}
		}
		switch i % 5 {
		case 0: // no headers
		case 1:
			r.headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprint(i))}}
		case 2:
			r.headers = []sarama.RecordHeader{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte{}},
				{Key: []byte("a"), Value: []byte("2")}}
		case 3:
			r.headers = []sarama.RecordHeader{{Key: []byte("null-header"), Value: nil}}
		case 4:
			r.headers = []sarama.RecordHeader{{Key: []byte("bin"), Value: []byte{0, 1, 2, 0xff}}}
		}
		out[i] = r
	}
	return out
}

func toByteEncoder(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

func producerMessage(topic string, partition int32, r rec, meta interface{}) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{
		Topic: topic, Partition: partition, Key: toByteEncoder(r.key), Value: toByteEncoder(r.value),
		Headers: r.headers, Timestamp: r.timestamp, Metadata: meta,
	}
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func showBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%q", b)
}

// compare returns "" when the consumed message carries exactly r.
func compare(m *sarama.ConsumerMessage, r rec) string {
	var d []string
	if !sameBytes(m.Key, r.key) {
		d = append(d, fmt.Sprintf("key %s, want %s", showBytes(m.Key), showBytes(r.key)))
	}
	if !sameBytes(m.Value, r.value) {
		d = append(d, fmt.Sprintf("value %s, want %s", showBytes(m.Value), showBytes(r.value)))
	}
	hs := []string{}
	for _, h := range m.Headers {
		hs = append(hs, showBytes(h.Key)+"="+showBytes(h.Value))
	}
	want := []string{}
	for _, h := range r.headers {
		want = append(want, showBytes(h.Key)+"="+showBytes(h.Value))
	}
	if strings.Join(hs, ",") != strings.Join(want, ",") {
		d = append(d, fmt.Sprintf("headers [%s], want [%s]", strings.Join(hs, ","), strings.Join(want, ",")))
	}
	if !m.Timestamp.Equal(r.timestamp) {
		d = append(d, fmt.Sprintf("timestamp %v, want %v", m.Timestamp.UnixNano()/1e6, r.timestamp.UnixNano()/1e6))
	}
	return strings.Join(d, "; ")
}

func createTopic(admin sarama.ClusterAdmin, topic string, partitions int32, entries map[string]*string) error {
	return admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: entries}, false)
}

// waitPartitions refreshes metadata until topic has n partitions with a leader.
func waitPartitions(client sarama.Client, topic string, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := client.RefreshMetadata(topic)
		if err == nil {
			ps, err2 := client.Partitions(topic)
			if err2 == nil && len(ps) == n {
				ok := true
				for _, p := range ps {
					if _, err3 := client.Leader(topic, p); err3 != nil {
						ok = false
					}
				}
				if ok {
					return nil
				}
			}
			err = fmt.Errorf("partitions %v (%v), want %d", ps, err2, n)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumePartition reads exactly n messages from offset `from` with a
// partition consumer, then waits briefly to see that nothing more arrives.
func consumePartition(consumer sarama.Consumer, topic string, p int32, from int64, n int) ([]*sarama.ConsumerMessage, error) {
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	timeout := time.After(15 * time.Second)
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
		case e := <-pc.Errors():
			return got, fmt.Errorf("partition consumer error after %d messages: %v", len(got), e)
		case <-timeout:
			return got, fmt.Errorf("only %d of %d messages from %s/%d within 15 s", len(got), n, topic, p)
		}
	}
	select {
	case m := <-pc.Messages():
		return got, fmt.Errorf("unexpected extra message at offset %d", m.Offset)
	case <-time.After(300 * time.Millisecond):
	}
	return got, nil
}

func kerr(err error) sarama.KError {
	var ke sarama.KError
	if errors.As(err, &ke) {
		return ke
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return te.Err
	}
	var pe *sarama.TopicPartitionError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return -1
}

func expectKError(err error, want sarama.KError) error {
	if err == nil {
		return fmt.Errorf("succeeded, want error %d (%v)", want, want)
	}
	if kerr(err) != want {
		return fmt.Errorf("error %v (%T), want error %d (%v)", err, err, want, want)
	}
	return nil
}

// ---------------------------------------------------------------- scenario: admin

func scenarioAdmin() {
	cfg := newConfig()
	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if !emit("admin_connect", err, nil) {
		return
	}
	defer admin.Close()
	client, err := sarama.NewClient(addrs, newConfig())
	if !emit("client_connect", err, nil) {
		return
	}
	defer client.Close()

	// sarama 1.22 sends DescribeCluster as Metadata v0, which carries no
	// controller id (sarama reports -1); the controller comes from the
	// client's own Metadata v1+.
	brokers, _, err := admin.DescribeCluster()
	var brokerID int32 = -1
	if err == nil && len(brokers) != 1 {
		err = fmt.Errorf("%d brokers, want 1", len(brokers))
	}
	if err == nil {
		brokerID = brokers[0].ID()
		var ctl *sarama.Broker
		if ctl, err = client.Controller(); err == nil && ctl.ID() != brokerID {
			err = fmt.Errorf("controller %d, broker %d", ctl.ID(), brokerID)
		}
	}
	emit("describe_cluster", err, map[string]interface{}{"brokers": len(brokers), "broker_id": brokerID})

	topic := topicName("admin")
	retention := "3600000"
	err = createTopic(admin, topic, 3, map[string]*string{"retention.ms": &retention})
	if !emit("create_topic", err, topic) {
		return
	}
	emit("create_topic_duplicate", expectKError(createTopic(admin, topic, 3, nil), sarama.ErrTopicAlreadyExists), nil)
	err = admin.CreateTopic(topicName("badrf"), &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	emit("create_topic_bad_replication_factor", expectKError(err, sarama.ErrInvalidReplicationFactor), nil)

	md, err := admin.DescribeTopics([]string{topic})
	if err == nil {
		if len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 3 {
			err = fmt.Errorf("metadata %+v", md)
		} else {
			for _, p := range md[0].Partitions {
				if p.Err != sarama.ErrNoError || p.Leader != brokerID || len(p.Replicas) != 1 || len(p.Isr) != 1 {
					err = fmt.Errorf("partition %+v", p)
				}
			}
		}
	}
	emit("describe_topics", err, nil)

	topics, err := admin.ListTopics()
	if err == nil {
		d, ok := topics[topic]
		switch {
		case !ok:
			err = fmt.Errorf("%s not listed", topic)
		case d.NumPartitions != 3 || d.ReplicationFactor != 1:
			err = fmt.Errorf("detail %+v", d)
		case d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != retention:
			err = fmt.Errorf("config entries %v: retention.ms not %s", d.ConfigEntries, retention)
		}
	}
	emit("list_topics", err, nil)

	if version.IsAtLeast(sarama.V1_0_0_0) { // CreatePartitions came with Kafka 1.0: sarama refuses to send it before
		err = admin.CreatePartitions(topic, 5, nil, false)
		if err == nil {
			err = waitPartitions(client, topic, 5)
		}
		emit("create_partitions", err, nil)
		emit("create_partitions_decrease", expectKError(admin.CreatePartitions(topic, 2, nil, false), sarama.ErrInvalidPartitions), nil)
	}

	configValue := func() (map[string]sarama.ConfigEntry, error) {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		m := map[string]sarama.ConfigEntry{}
		for _, e := range entries {
			m[e.Name] = e
		}
		return m, err
	}
	cfgs, err := configValue()
	if err == nil {
		if e, ok := cfgs["retention.ms"]; !ok || e.Value != retention || e.Default {
			err = fmt.Errorf("retention.ms %+v, want %s (not default)", e, retention)
		} else if e, ok := cfgs["cleanup.policy"]; !ok || e.Value != "delete" {
			err = fmt.Errorf("cleanup.policy %+v, want delete", e)
		}
	}
	emit("describe_config", err, len(cfgs))

	newRetention := "7200000"
	err = admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &newRetention}, false)
	if err == nil {
		cfgs, err = configValue()
		if err == nil && cfgs["retention.ms"].Value != newRetention {
			err = fmt.Errorf("retention.ms %+v after AlterConfig, want %s", cfgs["retention.ms"], newRetention)
		}
	}
	emit("alter_config", err, nil)

	// DeleteRecords: 10 records into partition 0, delete below offset 4.
	producer, err := sarama.NewSyncProducer(addrs, newConfig())
	if err == nil {
		var msgs []*sarama.ProducerMessage
		for _, r := range makeRecords("dr", 10) {
			msgs = append(msgs, producerMessage(topic, 0, r, nil))
		}
		err = producer.SendMessages(msgs)
		producer.Close()
	}
	if err == nil {
		err = admin.DeleteRecords(topic, map[int32]int64{0: 4})
	}
	if err == nil {
		var oldest int64
		oldest, err = client.GetOffset(topic, 0, sarama.OffsetOldest)
		if err == nil && oldest != 4 {
			err = fmt.Errorf("oldest offset %d after DeleteRecords(4), want 4", oldest)
		}
	}
	emit("delete_records", err, nil)

	err = admin.DeleteTopic(topic)
	if err == nil {
		topics, err = admin.ListTopics()
		if _, ok := topics[topic]; err == nil && ok {
			err = fmt.Errorf("%s still listed after DeleteTopic", topic)
		}
	}
	emit("delete_topic", err, nil)
	emit("delete_topic_unknown", expectKError(admin.DeleteTopic(topic), sarama.ErrUnknownTopicOrPartition), nil)
}

// ---------------------------------------------------------------- scenario: sync producer + partition consumer + offsets

func scenarioSync() {
	admin, err := sarama.NewClusterAdmin(addrs, newConfig())
	if !emit("admin_connect", err, nil) {
		return
	}
	defer admin.Close()
	client, err := sarama.NewClient(addrs, newConfig())
	if !emit("client_connect", err, nil) {
		return
	}
	defer client.Close()
	topic := topicName("sync")
	err = createTopic(admin, topic, 2, nil)
	if err == nil {
		err = waitPartitions(client, topic, 2)
	}
	if !emit("create_topic", err, topic) {
		return
	}

	producer, err := sarama.NewSyncProducerFromClient(client)
	if !emit("sync_producer_open", err, nil) {
		return
	}
	records := makeRecords("sync", 60)
	byPartition := map[int32][]rec{}
	// Records 0..39 one at a time (SendMessage), 40..59 in one SendMessages.
	err = nil
	for i := 0; i < 40 && err == nil; i++ {
		p := int32(i % 2)
		var part int32
		var off int64
		part, off, err = producer.SendMessage(producerMessage(topic, p, records[i], i))
		if err == nil && (part != p || off != int64(len(byPartition[p]))) {
			err = fmt.Errorf("record %d: partition %d offset %d, want %d/%d", i, part, off, p, len(byPartition[p]))
		}
		byPartition[p] = append(byPartition[p], records[i])
	}
	emit("sync_send_message", err, nil)
	var batch []*sarama.ProducerMessage
	for i := 40; i < 60; i++ {
		p := int32(i % 2)
		batch = append(batch, producerMessage(topic, p, records[i], i))
	}
	err = producer.SendMessages(batch)
	if err == nil {
		next := map[int32]int64{0: int64(len(byPartition[0])), 1: int64(len(byPartition[1]))}
		for _, m := range batch {
			byPartition[m.Partition] = append(byPartition[m.Partition], records[m.Metadata.(int)])
		}
		// Each partition's offsets are consecutive from where SendMessage left off.
		got := map[int32][]int64{}
		for _, m := range batch {
			got[m.Partition] = append(got[m.Partition], m.Offset)
		}
		for p, offs := range got {
			sort.Slice(offs, func(a, b int) bool { return offs[a] < offs[b] })
			for k, o := range offs {
				if o != next[p]+int64(k) {
					err = fmt.Errorf("partition %d batch offsets %v, want from %d", p, offs, next[p])
					break
				}
			}
		}
	}
	emit("sync_send_messages", err, nil)
	producer.Close()

	consumer, err := sarama.NewConsumer(addrs, newConfig())
	if !emit("consumer_open", err, nil) {
		return
	}
	defer consumer.Close()
	for p := int32(0); p < 2; p++ {
		want := byPartition[p]
		got, err := consumePartition(consumer, topic, p, sarama.OffsetOldest, len(want))
		if err == nil {
			for i, m := range got {
				if m.Offset != int64(i) || m.Partition != p || m.Topic != topic {
					err = fmt.Errorf("message %d at %s/%d@%d", i, m.Topic, m.Partition, m.Offset)
				} else if d := compare(m, want[i]); d != "" {
					err = fmt.Errorf("offset %d: %s", i, d)
				}
				if err != nil {
					break
				}
			}
		}
		emit(fmt.Sprintf("consume_oldest_p%d", p), err, len(got))
	}
	// From an explicit offset in the middle.
	got, err := consumePartition(consumer, topic, 1, 10, len(byPartition[1])-10)
	if err == nil && (len(got) == 0 || got[0].Offset != 10 || compare(got[0], byPartition[1][10]) != "") {
		err = fmt.Errorf("first message %+v, want offset 10", got[0])
	}
	emit("consume_from_offset", err, nil)

	var offs []int64
	err = nil
	for p := int32(0); p < 2 && err == nil; p++ {
		var oldest, newest int64
		if oldest, err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			break
		}
		if newest, err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			break
		}
		offs = append(offs, oldest, newest)
		if oldest != 0 || newest != int64(len(byPartition[p])) {
			err = fmt.Errorf("partition %d: oldest %d newest %d, want 0 and %d", p, oldest, newest, len(byPartition[p]))
		}
	}
	emit("get_offset_oldest_newest", err, offs)

	// By timestamp: partition 0 holds records 0,2,4,...: the first one at or
	// after record 10's timestamp is record 10, at offset 5.
	off, err := client.GetOffset(topic, 0, records[10].timestamp.UnixNano()/1e6)
	if err == nil && off != 5 {
		err = fmt.Errorf("offset %d for timestamp of record 10, want 5", off)
	}
	emit("get_offset_by_timestamp", err, off)
	off, err = client.GetOffset(topic, 0, time.Now().Add(time.Hour).UnixNano()/1e6)
	if err == nil && off != -1 {
		// Kafka answers -1 (no such offset) for a timestamp after the last record.
		err = fmt.Errorf("offset %d for a future timestamp, want -1", off)
	}
	emit("get_offset_future_timestamp", err, off)

	// A partition that does not exist.
	_, err = consumer.ConsumePartition(topic, 7, sarama.OffsetOldest)
	emit("consume_unknown_partition", expectKError(err, sarama.ErrUnknownTopicOrPartition), nil)
	// An offset past the end.
	_, err = consumer.ConsumePartition(topic, 0, 1000)
	emit("consume_offset_out_of_range", expectKError(err, sarama.ErrOffsetOutOfRange), nil)
}

// ---------------------------------------------------------------- scenario: async producer with a codec

var codecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func scenarioAsync(codecName string) {
	codec, ok := codecs[codecName]
	if !ok {
		emit("codec", fmt.Errorf("unknown codec %q", codecName), nil)
		return
	}
	admin, err := sarama.NewClusterAdmin(addrs, newConfig())
	if !emit("admin_connect", err, nil) {
		return
	}
	defer admin.Close()
	topic := topicName("async-" + codecName)
	if !emit("create_topic", createTopic(admin, topic, 1, nil), topic) {
		return
	}

	cfg := newConfig()
	cfg.Producer.Compression = codec
	cfg.Producer.Flush.Messages = 40
	cfg.Producer.Flush.Frequency = 50 * time.Millisecond
	cfg.Producer.Retry.Max = 1
	producer, err := sarama.NewAsyncProducer(addrs, cfg)
	if !emit("async_producer_open", err, nil) {
		return
	}
	const n = 200
	records := makeRecords("async-"+codecName, n)
	go func() {
		for i, r := range records {
			producer.Input() <- producerMessage(topic, 0, r, i)
		}
	}()
	atOffset := map[int64]int{}
	var perrs []string
	var firstErr error
	timeout := time.After(20 * time.Second)
	for len(atOffset)+len(perrs) < n {
		select {
		case m := <-producer.Successes():
			if prev, dup := atOffset[m.Offset]; dup {
				perrs = append(perrs, fmt.Sprintf("records %d and %d both at offset %d", prev, m.Metadata.(int), m.Offset))
			}
			atOffset[m.Offset] = m.Metadata.(int)
		case e := <-producer.Errors():
			if firstErr == nil {
				firstErr = e.Err
			}
			perrs = append(perrs, fmt.Sprintf("record %d: %v", e.Msg.Metadata.(int), e.Err))
		case <-timeout:
			perrs = append(perrs, fmt.Sprintf("timeout: %d acks, %d errors of %d", len(atOffset), len(perrs), n))
			goto done
		}
	}
done:
	producer.AsyncClose()
	for range producer.Successes() {
	}
	for range producer.Errors() {
	}

	if codec == sarama.CompressionZSTD {
		// sarama 1.22 sends zstd batches in Produce v3. Kafka accepts zstd only
		// from Produce v7 (KIP-110) and answers UNSUPPORTED_COMPRESSION_TYPE
		// (76) to older requests; a compatible broker must do the same.
		err = nil
		if len(atOffset) != 0 || len(perrs) != n {
			err = fmt.Errorf("%d records acknowledged, %d failed; want all %d rejected", len(atOffset), len(perrs), n)
		} else if kerr(firstErr) != sarama.ErrUnsupportedCompressionType {
			err = fmt.Errorf("error %v, want UNSUPPORTED_COMPRESSION_TYPE (76)", firstErr)
		}
		emit("async_produce_zstd_v3_rejected", err, map[string]interface{}{"acked": len(atOffset), "failed": len(perrs)})
		return
	}

	err = nil
	if len(perrs) > 0 {
		err = fmt.Errorf("%d failed: %s", len(perrs), strings.Join(perrs[:min(len(perrs), 3)], "; "))
	} else {
		for o := int64(0); o < n; o++ {
			if _, ok := atOffset[o]; !ok {
				err = fmt.Errorf("no record acknowledged at offset %d", o)
				break
			}
		}
	}
	if !emit("async_produce", err, len(atOffset)) {
		return
	}

	consumer, err := sarama.NewConsumer(addrs, newConfig())
	if !emit("consumer_open", err, nil) {
		return
	}
	defer consumer.Close()
	got, err := consumePartition(consumer, topic, 0, sarama.OffsetOldest, n)
	if err == nil {
		for i, m := range got {
			if m.Offset != int64(i) {
				err = fmt.Errorf("message %d at offset %d", i, m.Offset)
			} else if d := compare(m, records[atOffset[m.Offset]]); d != "" {
				err = fmt.Errorf("offset %d (record %d): %s", m.Offset, atOffset[m.Offset], d)
			}
			if err != nil {
				break
			}
		}
	}
	emit("consume_verify", err, len(got))

	client, err := sarama.NewClient(addrs, newConfig())
	if err == nil {
		var newest int64
		newest, err = client.GetOffset(topic, 0, sarama.OffsetNewest)
		if err == nil && newest != n {
			err = fmt.Errorf("newest offset %d, want %d", newest, n)
		}
		client.Close()
	}
	emit("get_offset_newest", err, nil)
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// ---------------------------------------------------------------- scenario: consumer group

type delivery struct {
	member    string
	partition int32
	offset    int64
}

type groupState struct {
	mu         sync.Mutex
	deliveries []delivery
	seen       map[[2]int64]int             // (partition, offset) -> deliveries
	claims     map[string]map[int32][]int32 // member name -> generation -> partitions
	memberIDs  map[string]string
	changed    chan struct{}
}

func (g *groupState) notify() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

type handler struct {
	name  string
	state *groupState
	topic string
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.state.mu.Lock()
	h.state.claims[h.name][s.GenerationID()] = append([]int32(nil), s.Claims()[h.topic]...)
	h.state.memberIDs[h.name] = s.MemberID()
	h.state.mu.Unlock()
	h.state.notify()
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.state.mu.Lock()
		h.state.deliveries = append(h.state.deliveries, delivery{h.name, m.Partition, m.Offset})
		h.state.seen[[2]int64{int64(m.Partition), m.Offset}]++
		h.state.mu.Unlock()
		s.MarkMessage(m, "")
		h.state.notify()
	}
	return nil
}

type member struct {
	name  string
	group sarama.ConsumerGroup
	stop  context.CancelFunc
	done  chan struct{}
	mu    sync.Mutex
	errs  []string
}

func startMember(name, groupID, topic string, state *groupState) (*member, error) {
	g, err := sarama.NewConsumerGroup(addrs, groupID, newConfig())
	if err != nil {
		return nil, err
	}
	state.mu.Lock()
	state.claims[name] = map[int32][]int32{}
	state.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, group: g, stop: cancel, done: make(chan struct{})}
	go func() {
		for e := range g.Errors() {
			m.mu.Lock()
			m.errs = append(m.errs, e.Error())
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		h := &handler{name: name, state: state, topic: topic}
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				m.errs = append(m.errs, "Consume: "+err.Error())
				m.mu.Unlock()
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	return m, nil
}

// shutdown ends the member's session (committing marked offsets), then leaves.
func (m *member) shutdown() error {
	m.stop()
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s: Consume did not return within 15 s", m.name)
	}
	return m.group.Close()
}

func (m *member) errors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.errs...)
}

// waitFor polls cond (under state.mu) until it holds or the timeout passes.
func waitFor(state *groupState, timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for {
		state.mu.Lock()
		ok := cond()
		state.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-state.changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return false
		}
	}
}

func sorted32(ps []int32) []int32 {
	out := append([]int32(nil), ps...)
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

func scenarioGroup() {
	const partitions = 4
	const perPartition = 100
	admin, err := sarama.NewClusterAdmin(addrs, newConfig())
	if !emit("admin_connect", err, nil) {
		return
	}
	defer admin.Close()
	topic := topicName("group")
	groupID := "sarama-group-" + runID
	if !emit("create_topic", createTopic(admin, topic, partitions, nil), topic) {
		return
	}

	state := &groupState{seen: map[[2]int64]int{}, claims: map[string]map[int32][]int32{},
		memberIDs: map[string]string{}, changed: make(chan struct{}, 1)}
	a, err := startMember("a", groupID, topic, state)
	if !emit("member_a_start", err, nil) {
		return
	}
	ok := waitFor(state, 20*time.Second, func() bool {
		for _, ps := range state.claims["a"] {
			if len(ps) == partitions {
				return true
			}
		}
		return false
	})
	err = nil
	if !ok {
		err = fmt.Errorf("member a never got all %d partitions: claims %v, errors %v", partitions, state.claims, a.errors())
	}
	if !emit("member_a_assigned_all", err, nil) {
		a.shutdown()
		return
	}

	b, err := startMember("b", groupID, topic, state)
	if !emit("member_b_start", err, nil) {
		a.shutdown()
		return
	}
	var generation int32
	ok = waitFor(state, 25*time.Second, func() bool {
		for gen, pb := range state.claims["b"] {
			pa, ok := state.claims["a"][gen]
			if !ok || len(pa)+len(pb) != partitions || len(pa) != partitions/2 {
				continue
			}
			union := map[int32]bool{}
			for _, p := range append(append([]int32{}, pa...), pb...) {
				union[p] = true
			}
			if len(union) == partitions {
				generation = gen
				return true
			}
		}
		return false
	})
	state.mu.Lock()
	claimsNow := fmt.Sprint(state.claims)
	pa, pb := sorted32(state.claims["a"][generation]), sorted32(state.claims["b"][generation])
	state.mu.Unlock()
	err = nil
	if !ok {
		err = fmt.Errorf("no generation split the %d partitions 2/2 between a and b: claims %s, errors a %v b %v",
			partitions, claimsNow, a.errors(), b.errors())
	}
	if !emit("rebalance_two_members", err, map[string]interface{}{"generation": generation, "a": pa, "b": pb}) {
		b.shutdown()
		a.shutdown()
		return
	}

	// Produce only now, so that every record is consumed in the stable generation.
	producer, err := sarama.NewSyncProducer(addrs, newConfig())
	if err == nil {
		var msgs []*sarama.ProducerMessage
		for p := int32(0); p < partitions; p++ {
			for i := 0; i < perPartition; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: p,
					Value: sarama.StringEncoder(fmt.Sprintf("p%d-%d", p, i))})
			}
		}
		err = producer.SendMessages(msgs)
		producer.Close()
	}
	if !emit("produce", err, partitions*perPartition) {
		b.shutdown()
		a.shutdown()
		return
	}

	total := partitions * perPartition
	ok = waitFor(state, 20*time.Second, func() bool { return len(state.seen) >= total })
	time.Sleep(500 * time.Millisecond) // let any duplicate show up
	state.mu.Lock()
	err = nil
	dups := 0
	for _, n := range state.seen {
		if n > 1 {
			dups++
		}
	}
	perMember := map[string]map[int32]int{"a": {}, "b": {}}
	for _, d := range state.deliveries {
		perMember[d.member][d.partition]++
	}
	inClaims := func(ps []int32, p int32) bool {
		for _, q := range ps {
			if q == p {
				return true
			}
		}
		return false
	}
	switch {
	case !ok:
		err = fmt.Errorf("consumed %d distinct records of %d within 20 s", len(state.seen), total)
	case len(state.seen) != total || dups != 0:
		err = fmt.Errorf("%d distinct records (want %d), %d delivered more than once", len(state.seen), total, dups)
	}
	for name, ps := range map[string][]int32{"a": pa, "b": pb} {
		for p, n := range perMember[name] {
			if err == nil && (!inClaims(ps, p) || n != perPartition) {
				err = fmt.Errorf("member %s got %d records of partition %d; its claims are %v", name, n, p, ps)
			}
		}
	}
	state.mu.Unlock()
	emit("consume_exactly_once", err, perMember)

	// While both members are in the group.
	groups, err := admin.DescribeConsumerGroups([]string{groupID})
	var detail interface{}
	if err == nil {
		err = checkDescribe(groups, groupID, "Stable", map[string][]int32{state.memberIDs["a"]: pa, state.memberIDs["b"]: pb}, topic)
		if len(groups) == 1 {
			detail = map[string]interface{}{"state": groups[0].State, "protocol": groups[0].Protocol, "members": len(groups[0].Members)}
		}
	}
	emit("describe_groups_stable", err, detail)

	list, err := admin.ListConsumerGroups()
	if err == nil && list[groupID] != "consumer" {
		err = fmt.Errorf("group %s listed as %q in %v, want \"consumer\"", groupID, list[groupID], list)
	}
	emit("list_groups", err, nil)

	want := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		want[p] = perPartition
	}
	// Marked offsets are committed every CommitInterval (200 ms).
	var lastOffsets map[int32]int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		lastOffsets, err = committedOffsets(admin, groupID, topic, partitions)
		if err == nil && !equalOffsets(lastOffsets, want) {
			err = fmt.Errorf("committed offsets %v, want %v", lastOffsets, want)
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	emit("committed_offsets_active", err, lastOffsets)

	errB := b.shutdown()
	errA := a.shutdown()
	err = nil
	if errA != nil || errB != nil {
		err = fmt.Errorf("close: a %v, b %v", errA, errB)
	} else if es := append(a.errors(), b.errors()...); len(es) > 0 {
		err = fmt.Errorf("consumer group errors: %v", es)
	}
	emit("members_close", err, nil)

	groups, err = admin.DescribeConsumerGroups([]string{groupID})
	if err == nil {
		err = checkDescribe(groups, groupID, "Empty", map[string][]int32{}, topic)
	}
	emit("describe_groups_empty", err, nil)
	lastOffsets, err = committedOffsets(admin, groupID, topic, partitions)
	if err == nil && !equalOffsets(lastOffsets, want) {
		err = fmt.Errorf("committed offsets %v after close, want %v", lastOffsets, want)
	}
	emit("committed_offsets_after_close", err, lastOffsets)

	// A new member resumes from the committed offsets: it sees only new records.
	producer, err = sarama.NewSyncProducer(addrs, newConfig())
	if err == nil {
		var msgs []*sarama.ProducerMessage
		for p := int32(0); p < partitions; p++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder("late")})
		}
		err = producer.SendMessages(msgs)
		producer.Close()
	}
	if err == nil {
		state.mu.Lock()
		state.deliveries = nil
		state.seen = map[[2]int64]int{}
		state.mu.Unlock()
		var c *member
		c, err = startMember("c", groupID, topic, state)
		if err == nil {
			ok := waitFor(state, 20*time.Second, func() bool { return len(state.deliveries) >= partitions })
			time.Sleep(500 * time.Millisecond)
			state.mu.Lock()
			got := fmt.Sprint(state.deliveries)
			if !ok || len(state.deliveries) != partitions {
				err = fmt.Errorf("deliveries %s, want exactly one per partition at offset %d (errors %v)", got, perPartition, c.errors())
			}
			for _, d := range state.deliveries {
				if err == nil && d.offset != perPartition {
					err = fmt.Errorf("deliveries %s, want only offset %d", got, perPartition)
				}
			}
			state.mu.Unlock()
			if e := c.shutdown(); err == nil && e != nil {
				err = e
			}
		}
	}
	emit("resume_from_committed", err, nil)

	emit("delete_topic", admin.DeleteTopic(topic), nil)
}

func committedOffsets(admin sarama.ClusterAdmin, groupID, topic string, partitions int32) (map[int32]int64, error) {
	var ps []int32
	for p := int32(0); p < partitions; p++ {
		ps = append(ps, p)
	}
	resp, err := admin.ListConsumerGroupOffsets(groupID, map[string][]int32{topic: ps})
	if err != nil {
		return nil, err
	}
	if resp.Err != sarama.ErrNoError {
		return nil, resp.Err
	}
	out := map[int32]int64{}
	for _, p := range ps {
		b := resp.GetBlock(topic, p)
		if b == nil {
			return out, fmt.Errorf("no block for partition %d", p)
		}
		if b.Err != sarama.ErrNoError {
			return out, fmt.Errorf("partition %d: %v", p, b.Err)
		}
		out[p] = b.Offset
	}
	return out, nil
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func checkDescribe(groups []*sarama.GroupDescription, groupID, state string, members map[string][]int32, topic string) error {
	if len(groups) != 1 {
		return fmt.Errorf("%d groups described, want 1", len(groups))
	}
	g := groups[0]
	if g.Err != sarama.ErrNoError || g.GroupId != groupID || g.State != state || g.ProtocolType != "consumer" {
		return fmt.Errorf("group %s err %v state %q protocol type %q, want %s/%q/\"consumer\"",
			g.GroupId, g.Err, g.State, g.ProtocolType, groupID, state)
	}
	if len(members) > 0 && g.Protocol != "range" {
		return fmt.Errorf("protocol %q, want \"range\"", g.Protocol)
	}
	if len(g.Members) != len(members) {
		return fmt.Errorf("%d members, want %d", len(g.Members), len(members))
	}
	for id, wantPs := range members {
		md, ok := g.Members[id]
		if !ok {
			return fmt.Errorf("member %s missing from %v", id, g.Members)
		}
		if md.ClientId != "runnel-sarama-check" {
			return fmt.Errorf("member %s client id %q", id, md.ClientId)
		}
		meta, err := md.GetMemberMetadata()
		if err != nil || len(meta.Topics) != 1 || meta.Topics[0] != topic {
			return fmt.Errorf("member %s metadata %+v (%v)", id, meta, err)
		}
		asg, err := md.GetMemberAssignment()
		if err != nil {
			return fmt.Errorf("member %s assignment: %v", id, err)
		}
		if fmt.Sprint(sorted32(asg.Topics[topic])) != fmt.Sprint(sorted32(wantPs)) || len(asg.Topics) != 1 {
			return fmt.Errorf("member %s assignment %v, want %s: %v", id, asg.Topics, topic, wantPs)
		}
	}
	return nil
}

// ---------------------------------------------------------------- main

func main() {
	broker := flag.String("broker", "", "broker address host:port")
	proxy := flag.String("proxy", "", "listen here and relay to -broker, recording request versions")
	ver := flag.String("version", sarama.MaxVersion.String(), "sarama Config.Version")
	scenario := flag.String("scenario", "", "admin | sync | async-<codec> | group")
	timeout := flag.Duration("timeout", 45*time.Second, "bound on the whole run")
	verbose := flag.Bool("v", false, "sarama's log on stderr")
	flag.Parse()
	if *broker == "" || *scenario == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *verbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	v, err := sarama.ParseKafkaVersion(*ver)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	version = v
	addrs = []string{*broker}

	rec := &recorder{seen: map[int16]map[int16]int{}}
	if *proxy != "" {
		if err := startRelay(*proxy, *broker, rec); err != nil {
			emit("relay", err, nil)
			os.Exit(1)
		}
		addrs = []string{*proxy}
	}
	report := func() {
		if *proxy != "" {
			emit("api_versions", nil, rec.summary())
		}
	}
	time.AfterFunc(*timeout, func() {
		report()
		emit("timeout", fmt.Errorf("scenario %s did not finish within %v", *scenario, *timeout), nil)
		os.Exit(3)
	})
	emit("sarama_version", nil, map[string]string{"config_version": version.String(), "max_version": sarama.MaxVersion.String()})

	switch {
	case *scenario == "admin":
		scenarioAdmin()
	case *scenario == "sync":
		scenarioSync()
	case strings.HasPrefix(*scenario, "async-"):
		scenarioAsync(strings.TrimPrefix(*scenario, "async-"))
	case *scenario == "group":
		scenarioGroup()
	default:
		emit("scenario", fmt.Errorf("unknown scenario %q", *scenario), nil)
	}
	report()
	outMu.Lock()
	n := failures
	outMu.Unlock()
	if n > 0 {
		os.Exit(1)
	}
}
