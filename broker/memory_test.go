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
// goroutines' stacks and its heap, per client, over b.N clients (at
// least 100). The clients are bare TCP connections that keep nothing
// but their socket, so the figures are the broker's. make bench-broker
// measures the whole process's RSS instead, garbage included.
func BenchmarkBroker_IdleClientMemory(b *testing.B) {
	br := startBroker(b, Options{Users: testUsers(b)})
	n := max(b.N, 100)
	connect := appendStr(nil, "MQTT")
	connect = append(connect, 4, 0xC2, 0, 60) // 3.1.1; user, password, clean; keepalive 60 s
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	b.ResetTimer()
	for i := range n {
		c, err := net.DialTimeout("tcp", br.Addr(), waitFor)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		body := appendStr(appendStr(appendStr(connect, fmt.Sprintf("idle-%d", i)), "esp1"), "pw-esp1")
		if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
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
	if got := runtime.NumGoroutine() - g0; got < 2*n {
		b.Fatalf("%d goroutines for %d clients: not all connected?", got, n)
	}
	per := func(before, after uint64) float64 { return float64(int64(after)-int64(before)) / float64(n) / 1024 }
	stack, heap := per(m0.StackInuse, m1.StackInuse), per(m0.HeapInuse, m1.HeapInuse)
	b.ReportMetric(stack, "stack-KiB/client")
	b.ReportMetric(heap, "heap-KiB/client")
	b.ReportMetric(stack+heap, "KiB/client")
}
