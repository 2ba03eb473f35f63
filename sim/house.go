package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/hearth-hub/hearth/sim/gpiosim"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

// The simulated house's wiring: what sits on its I2C bus and which GPIO
// line each part uses. It is the wiring docs/HARDWARE.md shows for a real
// Pi, so a config written for one runs on the other.
const (
	BusName      = "1"
	AddrSHT3x    = 0x44
	AddrBME280   = 0x76
	AddrMCP9808  = 0x18
	AddrMCP23017 = 0x20

	LineHeat          = "GPIO17" // W1
	LineCool          = "GPIO27" // Y1
	LineFan           = "GPIO22" // G
	LineHeat2         = "GPIO23" // W2
	LineCool2         = "GPIO24" // Y2
	LineReversing     = "GPIO25" // O/B
	LineDoor          = "GPIO16" // reed switch: low while the door is shut
	LineBoltExtend    = "GPIO5"
	LineBoltRetract   = "GPIO6"
	LineBoltExtended  = "GPIO13" // limit switch: low at the end
	LineBoltRetracted = "GPIO19"
	LineStrike        = "GPIO26"
)

// Options configure the house.
type Options struct {
	Clock   clockwork.Clock // nil: the real clock
	Speed   float64         // simulated seconds per clock second; 0 means 1
	Outside float64         // °C
	Room    float64         // °C at start
	Params  RoomParams      // zero: DefaultRoomParams
	Seed    uint64
}

// House is the simulated house. Its relays are active low (an
// opto-isolated relay board); its bolt starts retracted and its door shut.
type House struct {
	Room     *Room
	Bus      *i2csim.Bus
	SHT3x    *sensorsim.SHT3x
	BME280   *sensorsim.BME280
	MCP9808  *sensorsim.MCP9808
	Expander *gpiosim.MCP23017
	Relays   map[string]*gpiosim.Relay // by line: LineHeat, LineCool, ...
	Door     *gpiosim.Door
	Bolt     *gpiosim.Bolt

	clock   clockwork.Clock
	speed   float64
	outside float64
	pins    map[string]*gpiosim.Pin
}

// New builds the house.
func New(o Options) (*House, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.Params == (RoomParams{}) {
		o.Params = DefaultRoomParams()
	}
	h := &House{
		Room: NewRoom(o.Params, o.Room, o.Seed), Bus: i2csim.New("sim-i2c-" + BusName),
		Relays: map[string]*gpiosim.Relay{}, clock: o.Clock, speed: o.Speed, outside: o.Outside,
		pins: map[string]*gpiosim.Pin{},
	}
	for i := 0; i <= 27; i++ {
		name := fmt.Sprintf("GPIO%d", i)
		h.pins[name] = gpiosim.NewPin(name, o.Clock)
	}
	h.SHT3x, h.BME280, h.MCP9808 = sensorsim.NewSHT3x(h.Room), sensorsim.NewBME280(h.Room), sensorsim.NewMCP9808(h.Room)
	h.SHT3x.SetClock(o.Clock)
	h.BME280.SetClock(o.Clock)
	h.MCP9808.SetClock(o.Clock)
	h.Expander = gpiosim.NewMCP23017(fmt.Sprintf("MCP23017_%#02x", AddrMCP23017), o.Clock)
	for addr, d := range map[uint16]i2csim.Device{AddrSHT3x: h.SHT3x, AddrBME280: h.BME280, AddrMCP9808: h.MCP9808, AddrMCP23017: h.Expander} {
		if err := h.Bus.Attach(addr, d); err != nil {
			return nil, err
		}
	}
	for _, l := range []string{LineHeat, LineCool, LineFan, LineHeat2, LineCool2, LineReversing, LineStrike} {
		h.Relays[l] = gpiosim.NewRelay(h.pins[l], true)
	}
	h.Door = gpiosim.NewDoor(h.pins[LineDoor], true, false)
	var err error
	h.Bolt, err = gpiosim.NewBolt(gpiosim.BoltOpts{
		Extend: h.pins[LineBoltExtend], Retract: h.pins[LineBoltRetract],
		Extended: h.pins[LineBoltExtended], Retracted: h.pins[LineBoltRetracted],
		Clock: o.Clock,
	})
	if err != nil {
		return nil, err
	}
	h.Room.SetInputs(Inputs{Outside: o.Outside})
	return h, nil
}

// I2C returns the bus by name ("1").
func (h *House) I2C(name string) (i2c.Bus, error) {
	if name != BusName {
		return nil, fmt.Errorf("the simulated house has I2C bus %q only, not %q", BusName, name)
	}
	return h.Bus, nil
}

// Pin returns a GPIO line by name (GPIO0 to GPIO27).
func (h *House) Pin(name string) (gpio.PinIO, error) {
	p, ok := h.pins[name]
	if !ok {
		return nil, fmt.Errorf("the simulated house has no GPIO line %q (GPIO0 to GPIO27)", name)
	}
	return p, nil
}

// Line returns a simulated line, for tests that drive or watch it.
func (h *House) Line(name string) *gpiosim.Pin { return h.pins[name] }

// SetOutside changes the weather.
func (h *House) SetOutside(c float64) {
	h.outside = c
	h.update()
}

// update hands the relays' states to the room.
func (h *House) update() {
	h.Room.SetInputs(Inputs{
		Heat: h.Relays[LineHeat].On(), Heat2: h.Relays[LineHeat2].On(),
		Cool: h.Relays[LineCool].On(), Cool2: h.Relays[LineCool2].On(),
		Fan: h.Relays[LineFan].On(), Outside: h.outside,
	})
}

// Step advances the physics by dt of simulated time.
func (h *House) Step(dt time.Duration) {
	h.update()
	h.Room.Step(dt)
}

// Run advances the physics with the clock, Speed times faster, until ctx
// ends.
func (h *House) Run(ctx context.Context) {
	const tick = 100 * time.Millisecond
	// Read the start before the ticker exists: a clock that moves between
	// the two would otherwise be lost for good (with a fake clock, a test
	// that advances as soon as the ticker is waiting saw no time pass).
	last := h.clock.Now()
	t := h.clock.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			now := h.clock.Now()
			h.Step(time.Duration(float64(now.Sub(last)) * h.speed))
			last = now
		}
	}
}
