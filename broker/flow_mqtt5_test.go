package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// burst5Deadline bounds one MQTT 5 burst; a deadlock in the broker shows
// as a goroutine dump and a failure instead of a hung test.
const burst5Deadline = 90 * time.Second

// fanInBurst5 is the fan-in burst into one MQTT 5 subscriber (paho, with
// the given Receive Maximum): n publishers send m messages each at qos
// to one topic as fast as TCP lets them. It returns what the subscriber
// saw and the most messages in flight to it at once.
func fanInBurst5(t *testing.T, b *Broker, qos byte, n, m int, receiveMax uint16) (res burstResult, maxInflight int) {
	t.Helper()
	const topic = "hearth/flow/burst5/set"
	subID := "flow5-sub-" + t.Name()
	seen := make([][]bool, n)
	for i := range seen {
		seen[i] = make([]bool, m)
	}
	var mu sync.Mutex
	var got atomic.Int64
	conn, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet.Payload
			if len(p) >= 8 {
				pi, si := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
				mu.Lock()
				if int(pi) < n && int(si) < m {
					if seen[pi][si] {
						res.dups++
					} else {
						seen[pi][si] = true
						res.unique++
					}
				}
				mu.Unlock()
			}
			got.Add(1)
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: subID, CleanStart: true, KeepAlive: 60,
		Username: "ha", UsernameFlag: true, Password: []byte("pw-ha"), PasswordFlag: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &receiveMax}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(&paho.Disconnect{}); conn.Close() })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}}); err != nil {
		t.Fatal(err)
	}
	sc, ok := b.Server().Clients.Get(subID)
	if !ok {
		t.Fatal("subscriber not found")
	}

	start := time.Now()
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() { // the subscriber's in-flight count, sampled
		for {
			if l := sc.State.Inflight.Len(); l > maxInflight {
				maxInflight = l
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for p := range n {
		pc := rawDial(t, b, fmt.Sprintf("flow5-pub%d-%s", p, t.Name()), "ha", "pw-ha")
		wg.Go(func() {
			var buf []byte
			for s := range m {
				body := appendStr(nil, topic)
				if qos > 0 {
					body = binary.BigEndian.AppendUint16(body, uint16(s%65535+1))
				}
				body = binary.BigEndian.AppendUint32(body, uint32(p))
				body = binary.BigEndian.AppendUint32(body, uint32(s))
				buf = appendPacket(buf, 0x30|qos<<1, append(body, make([]byte, 56)...))
			}
			buf = append(buf, 0xC0, 0) // PINGREQ: answered once every publish is routed
			go func() { _, _ = pc.c.Write(buf) }()
			_ = pc.c.SetReadDeadline(time.Now().Add(burst5Deadline))
			for {
				h, _, err := pc.readPacket()
				if err != nil {
					errs <- fmt.Errorf("publisher %d: %w", p, err)
					return
				}
				if h == 0xD0 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(burst5Deadline)
	for got.Load() < int64(n*m) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	sampler.Wait()
	if got.Load() < int64(n*m) || t.Failed() {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		t.Fatalf("after %v: %d of %d delivered; goroutines dumped above", time.Since(start), got.Load(), n*m)
	}
	time.Sleep(50 * time.Millisecond) // any duplicate still on its way
	mu.Lock()
	defer mu.Unlock()
	res.elapsed = time.Since(start)
	res.lost = n*m - res.unique
	return res, maxInflight
}

// MQTT 5 subscribers with a small Receive Maximum, under the fan-in
// burst: nothing lost, nothing duplicated, no deadlock (see SendQuotaHook
// for the one mochi has), and never more in flight than the Receive
// Maximum allows, give or take one per publisher racing to it.
func TestFlowFanInBurstMQTT5(t *testing.T) {
	const n, m = 4, 3000
	for _, qos := range []byte{0, 1} {
		for _, rm := range []uint16{10, 100} {
			t.Run(fmt.Sprintf("qos%d/receive_max_%d", qos, rm), func(t *testing.T) {
				b := startBroker(t, Options{Users: testUsers(t)})
				r, maxInflight := fanInBurst5(t, b, qos, n, m, rm)
				t.Logf("%d of %d delivered, %d lost, %d duplicates, %v; at most %d in flight; %+v",
					r.unique, n*m, r.lost, r.dups, r.elapsed, maxInflight, b.FlowStats())
				if r.lost != 0 || r.dups != 0 {
					t.Errorf("lost %d, duplicated %d of %d", r.lost, r.dups, n*m)
				}
				if qos > 0 && maxInflight > int(rm)+n {
					t.Errorf("%d in flight to a subscriber with Receive Maximum %d", maxInflight, rm)
				}
			})
		}
	}
}
