package daemon

import (
	"sort"
)

// driverDef is one entry of the parts registry: how a driver's config is
// checked and how its part is built. Drivers register by name, so config
// picks them by name and the wiring never grows a switch.
type driverDef struct {
	validate func(c *partCheck)
	build    func(hw *hardware, p *PartConfig) (any, error)
}

var drivers = map[string]driverDef{}

func registerDriver(name string, d driverDef) {
	if _, dup := drivers[name]; dup {
		panic("daemon: driver " + name + " registered twice")
	}
	drivers[name] = d
}

func driverNames() []string {
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
