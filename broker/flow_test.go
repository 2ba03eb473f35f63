package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A minimal MQTT 3.1.1 client, written for the fan-in burst: publishers
// write as fast as TCP lets them, like the baseline's load generator.

type rawConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendPacket(b []byte, header byte, body []byte) []byte {
	b = append(b, header)
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	return append(b, body...)
}

func (rc *rawConn) readPacket() (header byte, body []byte, err error) {
	if header, err = rc.r.ReadByte(); err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		d, err := rc.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
	}
	body = make([]byte, n)
	_, err = io.ReadFull(rc.r, body)
	return header, body, err
}

func rawDial(t *testing.T, b *Broker, id, user, pw string) *rawConn {
	t.Helper()
	return rawDialSession(t, b.Addr(), id, user, pw, true)
}

// rawDialSession is rawDial with a choice of clean session.
func rawDialSession(t *testing.T, addr, id, user, pw string, clean bool) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
	body := appendStr(nil, "MQTT")
	flags := byte(0xC0) // user, password
	if clean {
		flags |= 0x02
	}
	body = append(body, 4, flags) // 3.1.1
	body = binary.BigEndian.AppendUint16(body, 60)
	body = appendStr(appendStr(appendStr(body, id), user), pw)
	if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	h, ack, err := rc.readPacket()
	if err != nil || h != 0x20 || len(ack) != 2 || ack[1] != 0 {
		t.Fatalf("connect %s: %x %x %v", id, h, ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return rc
}

// smallSocketBuffers gives both ends of subscriber id's connection 64 KiB
// socket buffers: loopback's autotuned ones hold tens of thousands of
// small messages, more than a LAN link would, so the broker's queue, not
// the kernel, holds a backlog. Smaller ones stall loopback's TCP itself,
// whose segments are up to 64 KiB.
func smallSocketBuffers(t *testing.T, b *Broker, rc *rawConn, id string) {
	t.Helper()
	if err := rc.c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	cl, ok := b.Server().Clients.Get(id)
	if !ok {
		t.Fatalf("client %s not found", id)
	}
	if err := cl.Net.Conn.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
}

// burstResult is what the subscriber saw.
type burstResult struct {
	unique, dups, lost int
	elapsed            time.Duration
}

// fanInBurst runs n publishers, each sending m messages at qos to one
// topic as fast as they can, into one clean-session subscriber at qos
// reading at about rate msg/s, and counts unique deliveries and
// duplicates. The raw reader here is faster than any real consumer, and
// loopback's socket buffers hold tens of thousands of small messages: a
// fast subscriber never falls a whole queue (ClientQueue) or in-flight
// store (mochi's 8192) behind, so it is paced, and the socket buffers at both ends of
// its connection are kept small.
func fanInBurst(t *testing.T, b *Broker, qos byte, n, m, rate int) burstResult {
	t.Helper()
	const topic = "hearth/flow/burst/set"
	subID := "flow-sub-" + t.Name()
	sub := rawDial(t, b, subID, "ha", "pw-ha")
	smallSocketBuffers(t, b, sub, subID)
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = append(appendStr(body, topic), qos)
	if _, err := sub.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	if h, ack, err := sub.readPacket(); err != nil || h != 0x90 || len(ack) != 3 || ack[2] > 2 {
		t.Fatalf("subscribe: %x %x %v", h, ack, err)
	}

	seen := make([][]bool, n)
	for i := range seen {
		seen[i] = make([]bool, m)
	}
	var res burstResult
	var mu sync.Mutex // guards res while the reader runs
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		var acks []byte
		var read int
		var began time.Time
		for {
			h, body, err := sub.readPacket()
			if err != nil {
				return
			}
			if h>>4 != 3 {
				continue
			}
			if read == 0 {
				began = time.Now()
			}
			if read++; read%50 == 0 {
				if d := time.Duration(read)*time.Second/time.Duration(rate) - time.Since(began); d > 0 {
					time.Sleep(d)
				}
			}
			tl := int(binary.BigEndian.Uint16(body))
			rest := body[2+tl:]
			if q := (h >> 1) & 3; q > 0 {
				acks = append(acks, 0x40, 2, rest[0], rest[1])
				rest = rest[2:]
			}
			if len(rest) >= 8 {
				p, s := binary.BigEndian.Uint32(rest), binary.BigEndian.Uint32(rest[4:])
				mu.Lock()
				if int(p) < n && int(s) < m {
					if seen[p][s] {
						res.dups++
					} else {
						seen[p][s] = true
						res.unique++
					}
				}
				mu.Unlock()
			}
			if len(acks) > 0 && sub.r.Buffered() == 0 {
				if _, err := sub.c.Write(acks); err != nil {
					return
				}
				acks = acks[:0]
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for p := range n {
		pc := rawDial(t, b, fmt.Sprintf("flow-pub%d-%s", p, t.Name()), "ha", "pw-ha")
		wg.Go(func() {
			// Read acknowledgements (and the closing PINGRESP) meanwhile.
			acked := make(chan error, 1)
			go func() {
				want := 0
				if qos > 0 {
					want = m
				}
				got := 0
				for {
					h, _, err := pc.readPacket()
					if err != nil {
						acked <- fmt.Errorf("publisher %d: %d of %d acks: %w", p, got, want, err)
						return
					}
					switch h >> 4 {
					case 4:
						got++
					case 13:
						if got != want {
							acked <- fmt.Errorf("publisher %d: %d of %d acks", p, got, want)
						} else {
							acked <- nil
						}
						return
					}
				}
			}()
			var buf []byte
			for s := range m {
				buf = buf[:0]
				body := appendStr(nil, topic)
				if qos > 0 {
					body = binary.BigEndian.AppendUint16(body, uint16(s%65535+1))
				}
				body = binary.BigEndian.AppendUint32(body, uint32(p))
				body = binary.BigEndian.AppendUint32(body, uint32(s))
				body = append(body, make([]byte, 56)...) // 64 B payload
				buf = appendPacket(buf, 0x30|qos<<1, body)
				if _, err := pc.w.Write(buf); err != nil {
					errs <- err
					return
				}
			}
			// PINGREQ last: its PINGRESP means every publish was processed.
			if _, err := pc.w.Write([]byte{0xC0, 0}); err != nil {
				errs <- err
				return
			}
			if err := pc.w.Flush(); err != nil {
				errs <- err
				return
			}
			select {
			case err := <-acked:
				if err != nil {
					errs <- err
				}
			case <-time.After(10 * time.Second):
				errs <- fmt.Errorf("publisher %d: no PINGRESP", p)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every publish has been routed; wait for the subscriber to drain.
	last, lastAt := -1, time.Now()
	for {
		mu.Lock()
		got := res.unique + res.dups
		mu.Unlock()
		if got >= n*m && time.Since(lastAt) > 50*time.Millisecond || time.Since(lastAt) > 500*time.Millisecond {
			break
		}
		if got != last {
			last, lastAt = got, time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.elapsed = time.Since(start)
	sub.c.Close()
	<-readDone
	res.lost = n*m - res.unique
	return res
}

func TestFlowFanInBurst(t *testing.T) {
	for _, c := range []struct {
		qos        byte
		n, m, rate int
	}{
		// Without flow control mochi loses messages here: QoS 1 at the
		// in-flight limit (8192), QoS 0 once the write queue (ClientQueue)
		// is full; about half of them on this kind of machine
		// (../shared/reference/broker-baseline.md). The broker New builds
		// always has the hook, so that loss is not reproduced here.
		{qos: 1, n: 8, m: 4000, rate: 12000},
		{qos: 0, n: 8, m: 4000, rate: 12000},
	} {
		qos, n, m := c.qos, c.n, c.m
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			b := startBroker(t, Options{Users: testUsers(t)})
			r := fanInBurst(t, b, qos, n, m, c.rate)
			st := b.FlowStats()
			t.Logf("with flow control: %d of %d delivered, %d lost, %d duplicates, %v; %+v",
				r.unique, n*m, r.lost, r.dups, r.elapsed, st)
			if r.lost != 0 || r.dups != 0 {
				t.Errorf("lost %d, duplicated %d of %d", r.lost, r.dups, n*m)
			}
			if st.Dropped != 0 || st.TimedOut != 0 || st.InflightDropped != 0 {
				t.Errorf("flow stats %+v, want no drops or timeouts", st)
			}
		})
	}
}

// countHandler counts log records.
type countHandler struct {
	mu sync.Mutex
	n  int
}

func (c *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c *countHandler) Handle(context.Context, slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}
func (c *countHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countHandler) WithGroup(string) slog.Handler      { return c }

func TestFlowLogsOncePerClientPerMinute(t *testing.T) {
	lines := new(countHandler)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	h := new(FlowHook)
	if err := h.Init(&FlowOptions{Server: mqtt.New(nil), Log: slog.New(lines)}); err != nil {
		t.Fatal(err)
	}
	h.now = clock.Now
	for range 1000 {
		h.OnPublishDropped(&mqtt.Client{ID: "a"}, packets.Packet{})
		h.OnPublishDropped(&mqtt.Client{ID: "b"}, packets.Packet{})
		h.note("a", flowTimedOut)
	}
	if lines.n != 3 {
		t.Errorf("%d log lines for 3000 events on 2 clients, want 3", lines.n)
	}
	clock.Add(61 * time.Second)
	h.OnPublishDropped(&mqtt.Client{ID: "a"}, packets.Packet{})
	if lines.n != 4 {
		t.Errorf("%d log lines a minute later, want 4", lines.n)
	}
	if st := h.Stats(); st.Dropped != 2001 {
		t.Errorf("stats %+v", st)
	}
	if err := new(FlowHook).Init(&FlowOptions{}); err == nil {
		t.Error("Init without a Server accepted")
	}
}

// allowAll lets every client in, to read and write anything.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }
func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// An offline persistent session holds at most MaximumInflight messages;
// mochi drops the rest with no hook, and FlowHook counts them. On a bare
// mochi server: Hearth's ACL refuses every delivery to an offline session
// (its permissions go with the connection), so nothing queues there.
func TestFlowCountsOfflineSessionDrops(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	fh := new(FlowHook)
	if err := srv.AddHook(fh, &FlowOptions{Server: srv, MaxWait: 100 * time.Millisecond, Log: srv.Log}); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const topic = "flow/offline"
	sub := rawDialSession(t, tcp.Address(), "flow-offline-sub", "u", "p", false)
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = append(appendStr(body, topic), 1)
	if _, err := sub.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	if h, _, err := sub.readPacket(); err != nil || h != 0x90 {
		t.Fatalf("subscribe: %x %v", h, err)
	}
	if _, err := sub.c.Write([]byte{0xE0, 0}); err != nil { // DISCONNECT
		t.Fatal(err)
	}
	sub.c.Close()
	deadline := time.Now().Add(waitFor)
	for {
		cl, ok := srv.Clients.Get("flow-offline-sub")
		if ok && cl.Closed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriber still connected")
		}
		time.Sleep(time.Millisecond)
	}

	limit := int(srv.Options.Capabilities.MaximumInflight)
	const extra = 100
	pub := rawDialSession(t, tcp.Address(), "flow-offline-pub", "u", "p", true)
	var buf []byte
	for s := range limit + extra {
		pb := binary.BigEndian.AppendUint16(appendStr(nil, topic), uint16(s%65535+1))
		buf = appendPacket(buf, 0x32, append(pb, 'x'))
	}
	buf = append(buf, 0xC0, 0) // PINGREQ: its answer comes after every PUBACK
	go func() { _, _ = pub.c.Write(buf) }()
	_ = pub.c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		h, _, err := pub.readPacket()
		if err != nil {
			t.Fatal(err)
		}
		if h == 0xD0 {
			break
		}
	}
	if st := fh.Stats(); st.InflightDropped != extra || st.Waits != 0 {
		t.Errorf("stats %+v, want %d in-flight drops and no waits", st, extra)
	}
}
