package sim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
)

// RoomParams are the physical constants of a room. The defaults describe a
// living room of a reasonably insulated house: it cools from 21 °C
// towards 5 °C outside at about half a degree an hour, and a 6 kW furnace
// warms it by about 1.5 °C an hour.
type RoomParams struct {
	Capacity  float64 // J/K: heat needed to warm the room's air and fabric by 1 K
	Loss      float64 // W/K: heat lost per kelvin of difference to outside (UA)
	Heat      float64 // W: first heating stage
	Heat2     float64 // W: second heating stage, added to the first
	Cool      float64 // W: first cooling stage (removed heat)
	Cool2     float64 // W: second cooling stage
	Moisture  float64 // g/m³ of water in the air at start
	Pressure  float64 // Pa at start
	NoiseTemp float64 // K: standard deviation of sensor-level noise
}

// DefaultRoomParams returns the defaults.
func DefaultRoomParams() RoomParams {
	return RoomParams{
		Capacity: 1.5e7, Loss: 130, Heat: 6000, Heat2: 4000, Cool: 3500, Cool2: 2500,
		Moisture: 8, Pressure: 101325, NoiseTemp: 0.01,
	}
}

// Inputs are what drives the room: the HVAC relays and the weather.
type Inputs struct {
	Heat, Heat2, Cool, Cool2, Fan bool
	Outside                       float64 // °C
}

// Room is a first-order thermal model of one room: its temperature moves
// towards outside through the envelope and is pushed by heating or
// cooling while their relays are on. Humidity follows from a fixed amount
// of water in the air (relative humidity falls as the air warms), drifting
// slowly; pressure drifts slowly round its start value. It is safe for
// concurrent use: the house steps it while sensors read it.
type Room struct {
	p RoomParams

	mu       sync.Mutex
	temp     float64 // °C
	moisture float64 // g/m³
	pressure float64 // Pa
	elapsed  time.Duration
	in       Inputs
	rng      *rand.Rand
	override *float64 // a stuck or forced temperature (fault injection)
}

// NewRoom returns a room at temp °C.
func NewRoom(p RoomParams, temp float64, seed uint64) *Room {
	return &Room{p: p, temp: temp, moisture: p.Moisture, pressure: p.Pressure, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetInputs sets what drives the room from now on.
func (r *Room) SetInputs(in Inputs) {
	r.mu.Lock()
	r.in = in
	r.mu.Unlock()
}

// Inputs returns what drives the room.
func (r *Room) Inputs() Inputs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.in
}

// Step advances the model by dt of simulated time. Long steps are cut into
// one-minute pieces so that the explicit integration stays accurate.
func (r *Room) Step(dt time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for dt > 0 {
		d := min(dt, time.Minute)
		dt -= d
		s := d.Seconds()
		power := r.p.Loss * (r.in.Outside - r.temp)
		if r.in.Heat {
			power += r.p.Heat
			if r.in.Heat2 {
				power += r.p.Heat2
			}
		}
		if r.in.Cool {
			power -= r.p.Cool
			if r.in.Cool2 {
				power -= r.p.Cool2
			}
		}
		r.temp += power * s / r.p.Capacity
		// Cooling condenses water out of the air; otherwise it drifts.
		if r.in.Cool {
			r.moisture = max(4, r.moisture-0.4*s/3600)
		} else {
			r.moisture += (r.p.Moisture - r.moisture) * s / (6 * 3600)
		}
		r.elapsed += d
		r.pressure = r.p.Pressure + 300*math.Sin(2*math.Pi*r.elapsed.Hours()/36)
	}
}

// SetTemperature forces the room's temperature (a test's starting point).
func (r *Room) SetTemperature(c float64) {
	r.mu.Lock()
	r.temp = c
	r.mu.Unlock()
}

// Override makes sensors read c whatever the room does (nil ends it): a
// stuck sensor or a spike.
func (r *Room) Override(c *float64) {
	r.mu.Lock()
	r.override = c
	r.mu.Unlock()
}

// Celsius is the room's true temperature.
func (r *Room) Celsius() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.temp
}

// Temperature is what a sensor sees: the room's temperature with a little
// noise, or the override.
func (r *Room) Temperature() physic.Temperature {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.temp + r.rng.NormFloat64()*r.p.NoiseTemp
	if r.override != nil {
		c = *r.override
	}
	return physic.ZeroCelsius + physic.Temperature(c*float64(physic.Kelvin))
}

// Humidity is the relative humidity the air's water gives at the room's
// temperature (Magnus formula for the saturation vapour density).
func (r *Room) Humidity() physic.RelativeHumidity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return physic.RelativeHumidity(relativeHumidity(r.temp, r.moisture) * float64(physic.PercentRH))
}

// Pressure is the air pressure.
func (r *Room) Pressure() physic.Pressure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return physic.Pressure(r.pressure * float64(physic.Pascal))
}

// relativeHumidity returns % RH for moisture g/m³ at c °C, clamped to 0-100.
func relativeHumidity(c, moisture float64) float64 {
	es := 6.112 * math.Exp(17.62*c/(243.12+c)) // hPa
	saturation := 216.7 * es / (273.15 + c)    // g/m³
	return min(100, max(0, 100*moisture/saturation))
}
