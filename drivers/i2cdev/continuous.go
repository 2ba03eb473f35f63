package i2cdev

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"
)

// Continuous runs a sensor's SenseContinuous: one reading every interval,
// sent on a channel, until Stop or a new Start. The channel is closed when
// the readings end, including after a failed reading (the reader's next
// Sense then says why). The zero Continuous is ready to use.
type Continuous struct {
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// Start ends any readings already running and starts new ones.
func (c *Continuous) Start(clock clockwork.Clock, interval time.Duration, sense func(*physic.Env) error) <-chan physic.Env {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
	ch := make(chan physic.Env)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go run(clock, interval, sense, ch, c.stop, c.done)
	return ch
}

// Stop ends the readings and waits until they have.
func (c *Continuous) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
}

func (c *Continuous) stopLocked() {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop, c.done = nil, nil
	}
}

func run(clock clockwork.Clock, interval time.Duration, sense func(*physic.Env) error, ch chan<- physic.Env, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer close(ch)
	t := clock.NewTicker(interval)
	defer t.Stop()
	for {
		var e physic.Env
		if sense(&e) != nil {
			return // the closed channel tells the reader
		}
		select {
		case ch <- e:
		case <-stop:
			return
		}
		select {
		case <-t.Chan():
		case <-stop:
			return
		}
	}
}
