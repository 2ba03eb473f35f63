package thermostat

import (
	"testing"
	"time"
)

// BenchmarkController_Step is one control step with three sensors, in the
// steady state: readings fresh, the room at target.
func BenchmarkController_Step(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
		s    Settings
		at   float64
	}{
		{"idle", heatPumpConfig(), auto(20, 24), 22},
		{"heating", heatPumpConfig(), heat(21), 19},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(bc.cfg, bc.s, longAgo, 0, epoch)
			if err != nil {
				b.Fatal(err)
			}
			rd := []Reading{{"living", bc.at, 0}, {"hall", bc.at + 0.1, 0}, {"bedroom", bc.at - 0.1, 0}}
			var actual Outputs
			now := time.Duration(0)
			step := func() {
				now += time.Second
				for i := range rd {
					rd[i].At = now
				}
				actual = c.Step(now, epoch.Add(now), rd, actual, Outputs{}).Out
			}
			for range 100 { // the valve moves, the compressor starts
				step()
			}
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
		})
	}
}
