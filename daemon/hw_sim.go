package daemon

import (
	"context"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-hub/hearth/sim"
)

// simBackend is the simulated house.
type simBackend struct{ *sim.House }

func newSimBackend(c SimConfig, clock clockwork.Clock) (*simBackend, error) {
	h, err := sim.New(sim.Options{Clock: clock, Speed: c.Speed, Outside: c.Outside, Room: c.Room, Seed: 1})
	if err != nil {
		return nil, err
	}
	return &simBackend{h}, nil
}

func (b *simBackend) Run(ctx context.Context) { b.House.Run(ctx) }

func (b *simBackend) Close() error { return nil }
