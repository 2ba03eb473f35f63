package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store/storetest"
)

// BenchmarkHearthd_StartToReady starts the real hearthd on a store holding
// 1,000,000 history rows and times it from exec to the READY=1 it sends
// systemd (received here on a NOTIFY_SOCKET of our own). It also reports
// the daemon's resident memory once it has been idle for a second.
func BenchmarkHearthd_StartToReady(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	storetest.FillHistory(b, filepath.Join(dir, "hearth.db"), rows)
	config := writeConfig(b, dir, "virtual:\n  - id: number.away_temperature\n    min: 5\n    max: 25\n")
	notifyPath := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	var total time.Duration
	var rssKB int64
	n := 0
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(hearthdBin, "--config", config)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if err := waitNotify(conn, "READY=1"); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("%v\n%s", err, logs)
		}
		total += time.Since(start)
		n++

		b.StopTimer()
		if n == 1 { // once is enough: idle memory does not vary between starts
			time.Sleep(time.Second)
			rssKB = vmRSS(b, cmd.Process.Pid)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("hearthd exit: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/ready")
	b.ReportMetric(float64(rssKB)/1024, "idle-RSS-MB")
	b.ReportMetric(rows, "history-rows")
}

func waitNotify(conn *net.UnixConn, want string) error {
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", want, err)
		}
		if strings.Contains(string(buf[:n]), want) {
			return nil
		}
	}
}

// vmRSS reads a process's resident set size in kB.
func vmRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}
