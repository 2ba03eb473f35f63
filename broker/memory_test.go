package broker

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// BenchmarkBroker_IdleClientMemory is what an idle, logged-in client
// keeps in the broker once the garbage of its login is collected: its
// goroutines' stacks and its heap, per client, over idleClients clients
// connected in each iteration. The clients are bare TCP connections that
// keep nothing but their socket, so the figures are the broker's. make
// bench-broker measures the whole process's RSS instead, garbage included.
func BenchmarkBroker_IdleClientMemory(b *testing.B) {
	const idleClients = 200
	br := startBroker(b, Options{Users: testUsers(b)})
	base := br.Server().Clients.Len() // the inline client
	var stack, heap float64
	for range b.N {
		b.StopTimer()
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		conns := make([]net.Conn, idleClients)
		for i := range conns {
			c, err := net.DialTimeout("tcp", br.Addr(), waitFor)
			if err != nil {
				b.Fatal(err)
			}
			conns[i] = c
			if _, err := c.Write(connectPacket(fmt.Sprintf("idle-%d", i), "esp1", "pw-esp1", 4)); err != nil {
				b.Fatal(err)
			}
			ack := make([]byte, 4)
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
				b.Fatalf("client %d: CONNACK %x %v", i, ack, err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if got := runtime.NumGoroutine() - g0; got < 2*idleClients {
			b.Fatalf("%d goroutines for %d clients: not all connected?", got, idleClients)
		}
		stack += float64(int64(m1.StackInuse) - int64(m0.StackInuse))
		heap += float64(int64(m1.HeapInuse) - int64(m0.HeapInuse))
		for _, c := range conns {
			c.Close()
		}
		// Wait for the broker to let them go before the next round.
		deadline := time.Now().Add(waitFor)
		for br.Server().Clients.Len() > base && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
	}
	per := float64(b.N) * idleClients * 1024
	b.ReportMetric(stack/per, "stack-KiB/client")
	b.ReportMetric(heap/per, "heap-KiB/client")
	b.ReportMetric((stack+heap)/per, "KiB/client")
}
