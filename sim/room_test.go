package sim

import (
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

func TestRoom_Step(t *testing.T) {
	p := DefaultRoomParams()
	t.Run("cools towards outside at the envelope's rate", func(t *testing.T) {
		r := NewRoom(p, 21, 1)
		r.SetInputs(Inputs{Outside: 5})
		r.Step(time.Hour)
		// Exact solution of dT/dt = UA/C (Tout - T).
		want := 5 + 16*math.Exp(-p.Loss/p.Capacity*3600)
		if got := r.Celsius(); math.Abs(got-want) > 0.005 {
			t.Fatalf("after 1h: %.4f °C, want %.4f", got, want)
		}
		r.Step(2000 * time.Hour)
		if got := r.Celsius(); math.Abs(got-5) > 0.01 {
			t.Fatalf("after a long time: %.3f °C, want outside's 5", got)
		}
	})
	t.Run("heating warms, second stage more, cooling cools", func(t *testing.T) {
		rise := func(in Inputs) float64 {
			r := NewRoom(p, 20, 1)
			in.Outside = 20
			r.SetInputs(in)
			r.Step(time.Hour)
			return r.Celsius() - 20
		}
		h1, h2, c1 := rise(Inputs{Heat: true}), rise(Inputs{Heat: true, Heat2: true}), rise(Inputs{Cool: true})
		if !(h1 > 1 && h2 > h1 && c1 < -0.5) {
			t.Fatalf("one hour: heat %+.2f, heat+heat2 %+.2f, cool %+.2f", h1, h2, c1)
		}
		if got := rise(Inputs{Heat2: true}); got != 0 {
			t.Fatalf("second stage alone moved the room by %v: it needs the first", got)
		}
	})
	t.Run("step size does not change the result", func(t *testing.T) {
		a, b := NewRoom(p, 21, 1), NewRoom(p, 21, 1)
		in := Inputs{Heat: true, Outside: -5}
		a.SetInputs(in)
		b.SetInputs(in)
		a.Step(3 * time.Hour)
		for range 3 * 3600 {
			b.Step(time.Second)
		}
		if d := math.Abs(a.Celsius() - b.Celsius()); d > 0.01 {
			t.Fatalf("3h in one step %.4f vs in seconds %.4f", a.Celsius(), b.Celsius())
		}
	})
}

func TestRoom_Sensors(t *testing.T) {
	r := NewRoom(DefaultRoomParams(), 18, 7)
	rh18 := float64(r.Humidity()) / float64(physic.PercentRH)
	r.SetTemperature(24)
	rh24 := float64(r.Humidity()) / float64(physic.PercentRH)
	if !(rh18 > 40 && rh18 < 70 && rh24 < rh18) {
		t.Fatalf("RH at 18 °C %.1f%%, at 24 °C %.1f%%: want plausible and falling as the air warms", rh18, rh24)
	}
	c := r.Temperature().Celsius()
	if math.Abs(c-24) > 0.1 {
		t.Fatalf("sensor sees %.3f °C in a 24 °C room", c)
	}
	spike := -40.0
	r.Override(&spike)
	if got := r.Temperature().Celsius(); got != -40 {
		t.Fatalf("override: sensor sees %v, want -40", got)
	}
	r.Override(nil)
	if p := float64(r.Pressure()) / float64(physic.Pascal); p < 100000 || p > 103000 {
		t.Fatalf("pressure %v Pa", p)
	}
}
