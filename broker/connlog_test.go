package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// recHandler keeps every record's level and message.
type recHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recHandler) WithGroup(string) slog.Handler      { return h }

// warnings returns the messages logged at WARN and above.
func (h *recHandler) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level >= slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

func TestConnLog_Broker(t *testing.T) {
	rec := new(recHandler)
	b := startBroker(t, Options{Users: testUsers(t), Logger: slog.New(rec)})

	// A refused login: the auth hook's own line, nothing from the listener.
	if _, err := dial(t, b, "esp1", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	// A client that vanishes without DISCONNECT: DEBUG only.
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connectOver(t, conn, "esp1", "pw-esp1", ""); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	// Garbage instead of a CONNECT, twice from the same address.
	for range 2 {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = nc.Write([]byte{0xF0, 0x00})
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(nc); err != nil {
			t.Fatalf("broker did not close a garbage connection: %v", err)
		}
		nc.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(rec.warnings(), "mqtt connection closed on error") {
		if time.Now().After(deadline) {
			t.Fatalf("no WARN for a garbage connection; warnings: %q", rec.warnings())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the second garbage connection be reported too
	n := 0
	for _, m := range rec.warnings() {
		switch m {
		case "":
			t.Error("a WARN with an empty message")
		case "mqtt connection closed on error":
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d WARN lines for 2 garbage connections from one address within a minute, want 1; all: %q", n, rec.warnings())
	}
}

func TestConnLog_Ended(t *testing.T) {
	rec := new(recHandler)
	l := newConnLog(slog.New(rec))
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l.now = clock.Now
	a := &net.TCPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 50000}
	other := &net.TCPAddr{IP: net.IPv4(192, 168, 1, 21), Port: 50000}
	for _, err := range []error{
		nil, packets.ErrBadUsernameOrPassword, packets.ErrNotAuthorized, io.EOF,
		os.ErrDeadlineExceeded, net.ErrClosed, errors.Join(errors.New("read"), io.ErrUnexpectedEOF),
	} {
		l.ended("tcp", a, err)
	}
	if w := rec.warnings(); len(w) != 0 {
		t.Fatalf("warnings for logins and gone clients: %q", w)
	}
	bad := packets.ErrProtocolViolation
	for range 5 {
		l.ended("tcp", a, bad)
	}
	l.ended("tcp", other, bad)
	if w := rec.warnings(); len(w) != 2 {
		t.Fatalf("%d warnings for 5+1 errors from 2 addresses in a minute, want 2", len(w))
	}
	clock.Add(connLogEvery)
	l.ended("tcp", a, bad)
	rec.mu.Lock()
	last := rec.recs[len(rec.recs)-1]
	rec.mu.Unlock()
	var more int64 = -1
	last.Attrs(func(at slog.Attr) bool {
		if at.Key == "more_since_last_line" {
			more = at.Value.Int64()
		}
		return true
	})
	if more != 4 {
		t.Errorf("the line a minute later says %d more, want 4", more)
	}
}
