package daemon

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/hub"
)

// Two device clients flood the broker with QoS 0 publishes while the
// thermostat and its sensor run on the simulated house. The broker's
// client rate limit holds each flooder to its rate (plus its burst), and
// the control loops keep their period: this checks behaviour (the loops
// are not starved), not speed, so the bounds are generous.
func TestMQTT_FloodThrottledLoopsKeepPeriod(t *testing.T) {
	const (
		rate, burst = 500, 500
		flood       = 3 * time.Second
		sensorEvery = 100 * time.Millisecond
	)
	cfg := controlConfig(t)
	cfg.Hardware.Parts[0].Interval = Duration(sensorEvery)
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.MQTT.ClientRate, cfg.MQTT.ClientBurst = rate, burst
	r := MustStart(t, cfg)
	addr := r.d.broker.Addr()
	flooders := []string{"esp1", "esp2"}
	pws := map[string]string{}
	for _, u := range flooders {
		pws[u] = mqttUser(t, r, u, "device")
	}
	adminPW := mqttUser(t, r, "admin", "admin")

	// The subscriber counts what got through, per flooder.
	var counts [2]atomic.Int64
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			for i, u := range flooders {
				if strings.HasPrefix(pr.Packet.Topic, "devices/"+u+"/") {
					counts[i].Add(1)
				}
			}
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "flood-counter", CleanStart: true, KeepAlive: 30,
		Username: "admin", UsernameFlag: true, Password: []byte(adminPW), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(&paho.Disconnect{}); conn.Close() })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/#", QoS: 0}}}); err != nil {
		t.Fatal(err)
	}

	// Watch the loops: the sensor's reads (when each one landed), the
	// thermostat's steps, and the liveness beats every loop ticks.
	const sensor = hub.ID("sensor.living_room")
	th := r.d.thermos["thermostat.living_room"]
	var reads []time.Time
	var overdue []string
	watchDone, watching := make(chan struct{}), sync.WaitGroup{}
	watching.Go(func() {
		for {
			if at, ok := r.d.lastRead(sensor); ok && (len(reads) == 0 || at.After(reads[len(reads)-1])) {
				reads = append(reads, at)
			}
			if late := r.d.hub.Liveness().Overdue(time.Now()); len(late) > 0 {
				overdue = append(overdue, late...)
			}
			select {
			case <-watchDone:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	stepsBefore := th.steps.Load()

	// The flood: each device publishes as fast as its connection takes
	// it. Its socket's send buffer is small, as on a device: loopback's
	// would hold minutes of backlog. No keepalive: a throttled client's
	// PINGREQ waits behind its own backlog.
	var floodConns []net.Conn
	var floodClients []*paho.Client
	for _, u := range flooders {
		fc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := fc.(*net.TCPConn).SetWriteBuffer(8 << 10); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fc.Close() })
		c := paho.NewClient(paho.ClientConfig{Conn: fc})
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: "flood-" + u, CleanStart: true,
			Username: u, UsernameFlag: true, Password: []byte(pws[u]), PasswordFlag: true}); err != nil {
			t.Fatalf("connect %s: %v", u, err)
		}
		floodConns, floodClients = append(floodConns, fc), append(floodClients, c)
	}
	start := time.Now()
	var sent [2]int
	var wg sync.WaitGroup
	for i, u := range flooders {
		c := floodClients[i]
		wg.Go(func() {
			topic := "devices/" + u + "/flood"
			payload := []byte(`{"n":0}`)
			for time.Since(start) < flood {
				if _, err := c.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 0, Payload: payload}); err != nil {
					return // the connection closed below, under a blocked write
				}
				sent[i]++
			}
		})
	}
	time.Sleep(flood)
	// What got through by now, in flood seconds; then the flooders go
	// (their backlog in the broker's socket would trickle in for long).
	floodTook := time.Since(start)
	through := [2]int64{counts[0].Load(), counts[1].Load()}
	stepsDuring := th.steps.Load() - stepsBefore
	for _, fc := range floodConns {
		fc.Close()
	}
	wg.Wait()
	close(watchDone)
	watching.Wait()
	st := r.d.broker.ThrottleStats()
	t.Logf("flood of %v: written %v, through [%d %d], throttle %+v; %d sensor reads, %d thermostat steps",
		floodTook, sent, through[0], through[1], st, len(reads), stepsDuring)

	t.Run("each flooder is held to its rate", func(t *testing.T) {
		for i, u := range flooders {
			got := through[i]
			// The bucket starts full (burst) and refills at rate from the
			// first publish; 2% and 10 messages of margin for clocks.
			most := int64((rate*floodTook.Seconds()+burst)*1.02) + 10
			if got > most {
				t.Errorf("%s: %d messages through in %v, want at most %d (%d/s after a burst of %d)", u, got, floodTook, most, rate, burst)
			}
			if got < burst {
				t.Errorf("%s: only %d messages through: the flood did not reach the limit", u, got)
			}
		}
		if st.Throttled == 0 || st.Waited <= 0 {
			t.Errorf("throttle stats %+v: nothing was held back", st)
		}
	})
	t.Run("the control loops keep their period", func(t *testing.T) {
		if len(overdue) > 0 {
			t.Errorf("loops overdue (no tick for twice their period) during the flood: %v", overdue)
		}
		var gap time.Duration
		for i := 1; i < len(reads); i++ {
			gap = max(gap, reads[i].Sub(reads[i-1]))
		}
		if gap > 3*sensorEvery {
			t.Errorf("sensor reads: longest gap %v, want at most %v (3 periods)", gap, 3*sensorEvery)
		}
		if want := int(floodTook / sensorEvery); len(reads) < want/2 {
			t.Errorf("%d sensor reads in %v, want about %d", len(reads), floodTook, want)
		}
		// The thermostat steps every second, and again on each new reading.
		if want := uint64(floodTook / time.Second); stepsDuring < want {
			t.Errorf("%d thermostat steps in %v, want at least %d", stepsDuring, floodTook, want)
		}
	})
}
