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

// registerCheck and registerBuild fill the two halves of a driver's entry;
// each may be given once.
func registerCheck(name string, validate func(c *partCheck)) {
	d := drivers[name]
	if d.validate != nil {
		panic("daemon: driver " + name + " has two checks")
	}
	d.validate = validate
	drivers[name] = d
}

func registerBuild(name string, build func(hw *hardware, p *PartConfig) (any, error)) {
	d := drivers[name]
	if d.build != nil {
		panic("daemon: driver " + name + " has two builders")
	}
	d.build = build
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
