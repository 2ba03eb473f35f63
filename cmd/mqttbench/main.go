// Command mqttbench runs `make bench-broker`: the same MQTT loads against
// Hearth's broker (bin/hearthd, started on a temporary state directory)
// and Debian's mosquitto, alternating, and prints the medians and their
// ratios against the broker issue's targets as a Markdown table.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/hearth-hub/hearth/internal/mqttbench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mqttbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o mqttbench.Options
	flag.StringVar(&o.Hearthd, "hearthd", "bin/hearthd", "the hearthd binary")
	flag.StringVar(&o.Mosquitto, "mosquitto", "/usr/sbin/mosquitto", "the mosquitto binary (Debian's package mosquitto)")
	flag.StringVar(&o.MosquittoPasswd, "mosquitto-passwd", "mosquitto_passwd", "the mosquitto_passwd binary")
	flag.IntVar(&o.Reps, "runs", 3, "runs per broker, alternating")
	flag.IntVar(&o.Publishers, "publishers", 20, "fan-in publishers")
	flag.IntVar(&o.QoS0N, "qos0", 20000, "messages per publisher at QoS 0")
	flag.IntVar(&o.QoS1N, "qos1", 5000, "messages per publisher at QoS 1")
	flag.IntVar(&o.Window, "window", 100, "unacknowledged QoS 1 messages per publisher")
	flag.IntVar(&o.RTTN, "rtt", 5000, "measured round trips (after -rtt-warm)")
	flag.IntVar(&o.RTTWarm, "rtt-warm", 200, "unmeasured round trips first")
	flag.IntVar(&o.IdleClients, "idle", 200, "idle clients for the memory figure")
	flag.DurationVar(&o.Settle, "settle", 2*time.Second, "wait after the idle clients connect")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	for _, bin := range []*string{&o.Hearthd, &o.Mosquitto, &o.MosquittoPasswd} {
		p, err := exec.LookPath(*bin)
		if err != nil {
			return fmt.Errorf("%w (make bench-broker builds bin/hearthd and installs Debian's mosquitto)", err)
		}
		*bin = p
	}
	tmp, err := os.MkdirTemp("", "mqttbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	o.TmpDir = tmp
	o.Progress = os.Stderr
	start := time.Now()
	res, err := mqttbench.Run(o)
	if err != nil {
		return err
	}
	fmt.Printf("\nmqttbench: %d publishers × %d msgs at QoS 0, × %d at QoS 1 (≤ %d unacknowledged), %d B payloads;\n",
		o.Publishers, o.QoS0N, o.QoS1N, o.Window, mqttbench.PayloadSize)
	fmt.Printf("round trip %d after %d warm-up; %d idle clients; runs per broker: %d, alternating; took %s\n\n",
		o.RTTN, o.RTTWarm, o.IdleClients, o.Reps, time.Since(start).Round(time.Second))
	return res.WriteTable(os.Stdout)
}
