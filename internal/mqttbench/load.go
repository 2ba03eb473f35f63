package mqttbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Target is a running broker and the accounts the loads log in with.
type Target struct {
	Name string
	Addr string // host:port of its MQTT listener
	PID  int    // its process, for CPU and RSS; 0 skips both

	// Publishers each write devices/<user>/state; Subscriber reads
	// devices/#. Pinger writes and reads its own devices/<user>/ subtree;
	// Replier reads and writes the pinger's. Idle clients all use Idle.
	Publishers []Account
	Subscriber Account
	Pinger     Account
	Replier    Account
	Idle       Account
}

// FanIn shapes a fan-in burst: every publisher sends PerPublisher
// messages of PayloadSize bytes, with at most Window unacknowledged at
// QoS 1.
type FanIn struct {
	QoS          byte
	PerPublisher int
	Window       int
	// Quiet is how long the subscriber waits for a next message before it
	// counts the rest as lost.
	Quiet time.Duration
}

// FanInResult is what a fan-in burst delivered.
type FanInResult struct {
	Expected   int
	Unique     int
	Duplicates int
	Foreign    int
	Elapsed    time.Duration // first publish to last unique delivery
	CPU        time.Duration // broker CPU over the burst
}

// Lost is how many messages never reached the subscriber.
func (r FanInResult) Lost() int { return r.Expected - r.Unique }

// Rate is unique deliveries per second.
func (r FanInResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Unique) / r.Elapsed.Seconds()
}

// CPUPerMillion is broker CPU seconds per million delivered messages.
func (r FanInResult) CPUPerMillion() float64 {
	if r.Unique == 0 {
		return 0
	}
	return r.CPU.Seconds() * 1e6 / float64(r.Unique)
}

const dialTimeout = 30 * time.Second // bcrypt logins queue up on 2 cores

// RunFanIn runs one fan-in burst against t.
func RunFanIn(t Target, f FanIn) (FanInResult, error) {
	if len(t.Publishers) == 0 || f.PerPublisher <= 0 {
		return FanInResult{}, errors.New("fan-in: no publishers or no messages")
	}
	if f.QoS > 1 {
		return FanInResult{}, fmt.Errorf("fan-in: qos %d, want 0 or 1", f.QoS)
	}
	window := max(f.Window, 1)
	quiet := f.Quiet
	if quiet <= 0 {
		quiet = 5 * time.Second
	}
	sub, err := Dial(t.Addr, "bench-sub", t.Subscriber, dialTimeout)
	if err != nil {
		return FanInResult{}, fmt.Errorf("fan-in subscriber: %w", err)
	}
	defer sub.nc.Close()
	if err := sub.Subscribe("devices/#", f.QoS, dialTimeout); err != nil {
		return FanInResult{}, fmt.Errorf("fan-in subscriber: %w", err)
	}
	pubs, err := dialAll(t.Addr, "bench-pub", t.Publishers)
	if err != nil {
		return FanInResult{}, fmt.Errorf("fan-in publisher: %w", err)
	}
	defer func() {
		for _, p := range pubs {
			p.nc.Close()
		}
	}()

	tally := NewTally(len(pubs), f.PerPublisher)
	stop := make(chan struct{})
	errc := make(chan error, len(pubs))
	var wg sync.WaitGroup
	cpu0, cpuErr := cpuOf(t.PID)
	start := time.Now()
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publish(p, i, "devices/"+t.Publishers[i].User+"/state", f.QoS, f.PerPublisher, window, stop); err != nil {
				errc <- fmt.Errorf("fan-in publisher %s: %w", t.Publishers[i].User, err)
			}
		}()
	}
	last, rerr := receive(sub, tally, f.QoS, quiet)
	cpu1, cpuErr1 := cpuOf(t.PID)
	// The subscriber can have everything before a publisher has its last
	// PUBACKs: give them time, then stop whoever still waits.
	pubsDone := make(chan struct{})
	go func() { wg.Wait(); close(pubsDone) }()
	select {
	case <-pubsDone:
	case <-time.After(2 * quiet):
	}
	close(stop)
	for _, p := range pubs {
		p.nc.Close()
	}
	<-pubsDone
	close(errc)
	if err := <-errc; err != nil {
		return FanInResult{}, err
	}
	if rerr != nil {
		return FanInResult{}, fmt.Errorf("fan-in subscriber: %w", rerr)
	}
	if err := errors.Join(cpuErr, cpuErr1); err != nil {
		return FanInResult{}, fmt.Errorf("fan-in: broker cpu: %w", err)
	}
	return FanInResult{
		Expected: tally.Expected(), Unique: tally.Unique, Duplicates: tally.Duplicates,
		Foreign: tally.Foreign, Elapsed: last.Sub(start), CPU: cpu1 - cpu0,
	}, nil
}

// publish sends n messages from publisher index i, keeping at most window
// unacknowledged at QoS 1, and at QoS 1 returns once all are acknowledged.
func publish(c *Conn, i int, topic string, qos byte, n, window int, stop <-chan struct{}) error {
	payload := make([]byte, PayloadSize)
	var win chan struct{}
	acked := make(chan error, 1)
	if qos > 0 {
		win = make(chan struct{}, window)
		go func() {
			for {
				typ, _, err := c.ReadPacket()
				if err != nil {
					acked <- err
					return
				}
				if typ>>4 == pktPuback {
					<-win
				}
			}
		}()
	}
	acquire := func() error {
		select {
		case win <- struct{}{}:
			return nil
		default:
		}
		if err := c.Flush(); err != nil {
			return err
		}
		select {
		case win <- struct{}{}:
			return nil
		case err := <-acked:
			return fmt.Errorf("reading acknowledgements: %w", err)
		case <-stop:
			return errors.New("stopped with messages unacknowledged")
		}
	}
	for seq := range n {
		if qos > 0 {
			if err := acquire(); err != nil {
				return fmt.Errorf("message %d: %w", seq, err)
			}
		}
		EncodePayload(payload, i, seq)
		c.Publish(topic, qos, uint16(seq%65535+1), payload)
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for range window * int(qos) { // all acknowledged once the window is empty
		if err := acquire(); err != nil {
			return fmt.Errorf("waiting for the last acknowledgements: %w", err)
		}
	}
	return nil
}

// receive reads the fan-in until every message has arrived or none came
// for quiet, and returns when the last new one came.
func receive(c *Conn, tally *Tally, qos byte, quiet time.Duration) (time.Time, error) {
	var last, armed time.Time
	want := tally.Expected()
	for tally.Unique < want {
		// The deadline moves on with the packets, but not per packet: a
		// timeout means nothing came for at least 7/8 of quiet.
		if now := time.Now(); now.Sub(armed) > quiet/8 {
			_ = c.SetReadDeadline(now.Add(quiet))
			armed = now
		}
		typ, b, err := c.ReadPacket()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			break // the rest is lost
		}
		if err != nil {
			return last, err
		}
		if typ>>4 != pktPublish {
			continue
		}
		_, id, payload, err := ParsePublish(typ, b)
		if err != nil {
			return last, err
		}
		if tally.Add(payload) {
			last = time.Now()
		}
		if (typ>>1)&3 > 0 {
			c.Puback(id)
		}
		if qos > 0 && !c.Buffered() {
			if err := c.Flush(); err != nil {
				return last, err
			}
		}
	}
	return last, nil
}

// RTTResult is a round-trip series.
type RTTResult struct {
	P50, P99 time.Duration
	N        int
}

// RunRoundTrip sends n pings (after warm unmeasured ones) one at a time,
// QoS 1 both ways: pinger -> broker -> replier -> broker -> pinger.
func RunRoundTrip(t Target, warm, n int) (RTTResult, error) {
	ping := "devices/" + t.Pinger.User + "/ping"
	pong := "devices/" + t.Pinger.User + "/pong"
	rep, err := Dial(t.Addr, "bench-replier", t.Replier, dialTimeout)
	if err != nil {
		return RTTResult{}, fmt.Errorf("round trip replier: %w", err)
	}
	defer rep.nc.Close()
	if err := rep.Subscribe(ping, 1, dialTimeout); err != nil {
		return RTTResult{}, fmt.Errorf("round trip replier: %w", err)
	}
	pinger, err := Dial(t.Addr, "bench-pinger", t.Pinger, dialTimeout)
	if err != nil {
		return RTTResult{}, fmt.Errorf("round trip pinger: %w", err)
	}
	defer pinger.nc.Close()
	if err := pinger.Subscribe(pong, 1, dialTimeout); err != nil {
		return RTTResult{}, fmt.Errorf("round trip pinger: %w", err)
	}
	go replier(rep, pong)

	rtts := make([]time.Duration, 0, n)
	payload := make([]byte, 8)
	for i := range warm + n {
		binary.BigEndian.PutUint64(payload, uint64(i))
		id := uint16(i%65535 + 1)
		t0 := time.Now()
		pinger.Publish(ping, 1, id, payload)
		if err := pinger.Flush(); err != nil {
			return RTTResult{}, fmt.Errorf("round trip %d: %w", i, err)
		}
		if err := awaitPong(pinger, uint64(i)); err != nil {
			return RTTResult{}, fmt.Errorf("round trip %d: %w", i, err)
		}
		if i >= warm {
			rtts = append(rtts, time.Since(t0))
		}
	}
	return RTTResult{P50: Percentile(rtts, 50), P99: Percentile(rtts, 99), N: len(rtts)}, nil
}

// replier answers every ping on pong with the same payload until its
// connection closes.
func replier(c *Conn, pong string) {
	var id uint16
	for {
		typ, b, err := c.ReadPacket()
		if err != nil {
			return
		}
		if typ>>4 != pktPublish {
			continue
		}
		_, pid, payload, err := ParsePublish(typ, b)
		if err != nil {
			return
		}
		c.Puback(pid)
		id = id%65535 + 1
		c.Publish(pong, 1, id, payload)
		if c.Flush() != nil {
			return
		}
	}
}

func awaitPong(c *Conn, seq uint64) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, b, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("waiting for the pong: %w", err)
		}
		if typ>>4 != pktPublish {
			continue // the ping's PUBACK
		}
		_, id, payload, err := ParsePublish(typ, b)
		if err != nil {
			return err
		}
		c.Puback(id)
		if len(payload) == 8 && binary.BigEndian.Uint64(payload) == seq {
			return c.Flush()
		}
	}
}

// IdleResult is the broker's memory for idle clients.
type IdleResult struct {
	Clients       int
	Before, After int64 // VmRSS in bytes
}

// PerClient is the RSS growth per idle client, in bytes.
func (r IdleResult) PerClient() float64 {
	if r.Clients == 0 {
		return 0
	}
	return float64(r.After-r.Before) / float64(r.Clients)
}

// RunIdle connects n clients that then do nothing, waits settle, and
// reads the broker's RSS growth.
func RunIdle(t Target, n int, settle time.Duration) (IdleResult, error) {
	before, err := ProcRSS(t.PID)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle clients: %w", err)
	}
	accs := make([]Account, n)
	for i := range accs {
		accs[i] = t.Idle
	}
	conns, err := dialAll(t.Addr, "bench-idle", accs)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle clients: %w", err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(settle)
	after, err := ProcRSS(t.PID)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle clients: %w", err)
	}
	return IdleResult{Clients: n, Before: before, After: after}, nil
}

// dialAll connects one client per account, a few at a time.
func dialAll(addr, prefix string, accs []Account) ([]*Conn, error) {
	conns := make([]*Conn, len(accs))
	errs := make([]error, len(accs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, a := range accs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			conns[i], errs[i] = Dial(addr, fmt.Sprintf("%s-%d", prefix, i), a, dialTimeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				c.nc.Close()
			}
		}
		return nil, err
	}
	return conns, nil
}

func cpuOf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return ProcCPU(pid)
}
