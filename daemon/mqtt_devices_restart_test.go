package daemon

import (
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

// A device's retained state is its entity's first value after a restart:
// the broker keeps it in the store, and the device's subscription replays it.
func TestMQTTDevices_RetainedAfterRestart(t *testing.T) {
	cfg := deviceConfig(t)
	r := MustStart(t, cfg)
	pw := mqttUser(t, r, "garage", "device")
	mosquittoPub(t, r.d.broker.Addr(), "garage", pw, "devices/garage/status", "online", true)
	mosquittoPub(t, r.d.broker.Addr(), "garage", pw, "devices/garage/sensor/temperature/state", "18.5", true)
	waitValue(t, r, "sensor.garage", "temperature", "18.5 °C")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	d, err := New(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	events := d.hub.Bus().Subscribe("test", 1024, func(ev *hub.Event) bool { return ev.Entity == "sensor.garage" })
	defer events.Close()
	stop := startServe(t, d)
	defer func() {
		stop()
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	snap, ok := d.hub.Get("sensor.garage")
	if !ok || !snap.Available || snap.Attrs["temperature"].String() != "18.5 °C" {
		t.Fatalf("after the restart sensor.garage = %+v, want available at 18.5 °C from the retained messages", snap)
	}
	evs, _ := events.Drain(nil)
	var cause hub.Principal
	for _, ev := range evs {
		for _, c := range ev.Changes {
			if c.Attr == "temperature" {
				cause = ev.Cause
			}
		}
	}
	if cause != "mqtt:retained" {
		t.Fatalf("the replayed temperature's cause = %q, want mqtt:retained", cause)
	}
}
