package broker

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// retainedSubscriber stores n retained messages of 512 B under
// devices/esp1/r/, then subscribes to them with a client whose socket
// buffers are small (smallSocketBuffers). The subscriber has not read
// anything yet.
func retainedSubscriber(t *testing.T, b *Broker, n int) *rawConn {
	t.Helper()
	payload := strings.Repeat("r", 512)
	pub := rawDial(t, b, "retained-pub", "esp1", "pw-esp1")
	for i := range n {
		body := append(appendStr(nil, fmt.Sprintf("devices/esp1/r/%d", i)), payload...)
		if _, err := pub.w.Write(appendPacket(nil, 0x31, body)); err != nil { // QoS 0, retained
			t.Fatal(err)
		}
	}
	if _, err := pub.w.Write([]byte{0xC0, 0}); err != nil { // PINGREQ: answered after every publish
		t.Fatal(err)
	}
	if err := pub.w.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = pub.c.SetReadDeadline(time.Now().Add(waitFor))
	if h, _, err := pub.readPacket(); err != nil || h != 0xD0 {
		t.Fatalf("publisher: %x %v, want PINGRESP", h, err)
	}
	if got := atomic.LoadInt64(&b.Server().Info.Retained); got < int64(n) {
		t.Fatalf("%d retained messages stored, want %d", got, n)
	}

	sub := rawDial(t, b, "retained-sub", "esp1", "pw-esp1")
	smallSocketBuffers(t, b, sub, "retained-sub")
	body := append(appendStr(binary.BigEndian.AppendUint16(nil, 1), "devices/esp1/r/#"), 0)
	if _, err := sub.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestFlowRetainedOnSubscribe subscribes to three times as many retained
// messages as a client's write queue holds. Mochi queues them all at
// once from the subscriber's read loop and drops what the queue cannot
// take, unless the flow hook waits for the queue as it fills.
func TestFlowRetainedOnSubscribe(t *testing.T) {
	t.Run("reading", func(t *testing.T) {
		b := startBroker(t, Options{Users: testUsers(t)})
		n := 3 * int(b.Server().Options.Capabilities.MaximumClientWritesPending)
		sub := retainedSubscriber(t, b, n)
		time.Sleep(200 * time.Millisecond) // a slow start: the queue fills
		seen := make(map[string]bool, n)
		for len(seen) < n {
			// Mochi gathers every retained match before it sends the
			// first (slow under -race); then 1 s of quiet is the end.
			quiet := time.Second
			if len(seen) == 0 {
				quiet = waitFor
			}
			_ = sub.c.SetReadDeadline(time.Now().Add(quiet))
			h, body, err := sub.readPacket()
			if err != nil {
				break
			}
			if h>>4 == 3 {
				tl := int(binary.BigEndian.Uint16(body))
				seen[string(body[2:2+tl])] = true
			}
		}
		st := b.FlowStats()
		if got := len(seen); got != n {
			t.Errorf("subscriber got %d of %d retained messages; flow stats %+v", got, n, st)
		}
		if st.Waits == 0 || st.Dropped != 0 || st.TimedOut != 0 {
			t.Errorf("flow stats %+v, want waits and no drops or timeouts", st)
		}
	})
	// A subscriber that never reads holds only its own read loop, and
	// only until its queue has not moved for the bound (2 s): then the
	// rest of its retained messages are dropped, and counted, at once.
	t.Run("not reading", func(t *testing.T) {
		b := startBroker(t, Options{Users: testUsers(t)})
		queue := int(b.Server().Options.Capabilities.MaximumClientWritesPending)
		n := 3 * queue
		retainedSubscriber(t, b, n)
		deadline := time.Now().Add(waitFor)
		for b.FlowStats().TimedOut == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Everything after the wait gave up is dropped; wait for mochi
		// to get through the rest.
		for b.FlowStats().Dropped < uint64(n-2*queue) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		st := b.FlowStats()
		if st.Waits == 0 || st.TimedOut != 1 {
			t.Errorf("flow stats %+v: want waits, the last timed out", st)
		}
		if st.Dropped < uint64(n-2*queue) {
			t.Errorf("flow stats %+v: want at least %d dropped and counted", st, n-2*queue)
		}
		// The broker serves others meanwhile.
		c := mustDial(t, b, "esp2", "pw-esp2")
		if err := c.pub(t, "devices/esp2/x", "1"); err != nil {
			t.Fatal(err)
		}
	})
}
