package daemon

// Debian's mosquitto_pub and mosquitto_sub (package mosquitto-clients, in
// the Makefile's DEBIAN_PACKAGES) against hearthd's broker: the clients
// people actually point at a hub. The paho tests in mqtt_test.go and
// broker/ cover the same rules in depth; these prove the Debian clients,
// at MQTT 5 and 3.1.1, see the same answers.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/store"
)

// mosquittoTimeout bounds one mosquitto_pub or mosquitto_sub run.
const mosquittoTimeout = 30 * time.Second

// mosquittoCmd is tool (mosquitto_pub or mosquitto_sub) aimed at addr.
func mosquittoCmd(t *testing.T, ctx context.Context, addr, tool string, args ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s: %v (make deps installs mosquitto-clients)", tool, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return exec.CommandContext(ctx, path, append([]string{"-h", host, "-p", port}, args...)...)
}

// mosquitto runs tool to the end and returns its output (stdout and
// stderr) and exit status.
func mosquitto(t *testing.T, addr, tool string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mosquittoTimeout)
	defer cancel()
	out, code, err := mosquittoRun(ctx, mosquittoCmd(t, ctx, addr, tool, args...))
	if err != nil {
		t.Fatalf("%s %s: %v", tool, strings.Join(args, " "), err)
	}
	return out, code
}

// mosquittoRun runs cmd, made with ctx, to the end.
func mosquittoRun(ctx context.Context, cmd *exec.Cmd) (string, int, error) {
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return "", 0, fmt.Errorf("still running after %v; output:\n%s", mosquittoTimeout, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", 0, err
	}
	if ee != nil {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, nil
}

// mosquittoSub starts mosquitto_sub on filter and returns once the
// broker holds the subscription; wait then returns its output and exit
// status. (Its own output cannot say when: mosquitto_sub buffers stdout
// when it is not a terminal.)
func mosquittoSub(t *testing.T, r *running, filter string, args ...string) (wait func() (string, int)) {
	t.Helper()
	subs := func() int { return len(r.d.broker.Server().Topics.Subscribers(filter).Subscriptions) }
	before := subs()
	ctx, cancel := context.WithTimeout(t.Context(), mosquittoTimeout)
	cmd := mosquittoCmd(t, ctx, r.d.broker.Addr(), "mosquitto_sub", append(args, "-t", filter)...)
	type result struct {
		out  string
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		out, code, err := mosquittoRun(ctx, cmd)
		done <- result{out, code, err}
	}()
	wait = func() (string, int) {
		t.Helper()
		defer cancel()
		res := <-done
		if res.err != nil {
			t.Fatalf("mosquitto_sub -t %s %s: %v", filter, strings.Join(args, " "), res.err)
		}
		return res.out, res.code
	}
	for subs() == before {
		select {
		case res := <-done:
			done <- res
			out, code := wait()
			t.Fatalf("mosquitto_sub -t %s %s: exited (%d) before subscribing: %s", filter, strings.Join(args, " "), code, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return wait
}

// mqttUser adds an MQTT user through the API and returns its password.
func mqttUser(t *testing.T, r *running, name, role string) string {
	t.Helper()
	u, err := r.client.AddMQTTUser(context.Background(), name, role)
	if err != nil {
		t.Fatalf("add mqtt user %s: %v", name, err)
	}
	return u.Password
}

// refused says whether mosquitto's output reports a refusal: "not
// authorised" (3.1.1's CONNACK and MQTT 5's reason code) or MQTT 5's "bad
// user name or password".
func refused(out string) bool {
	out = strings.ToLower(out)
	return strings.Contains(out, "not authorised") || strings.Contains(out, "not authorized") ||
		strings.Contains(out, "bad user name or password")
}

func TestMosquitto_Auth(t *testing.T) {
	cfg := testConfig(t)
	cfg.MQTT.Listen = "127.0.0.1:0"
	r := MustStart(t, cfg)
	addr := r.d.broker.Addr()
	pw := mqttUser(t, r, "ha", "integration")
	const topic = "hearth/number/away_temperature/state"
	// The same client and command with the right password first: so a
	// refusal below is the broker's answer, not a broken client. (Five
	// failed logins a minute from one address lock it out, so the
	// refusals come last and stay within five.)
	for _, v := range []string{"5", "311"} {
		out, code := mosquitto(t, addr, "mosquitto_sub", "-V", v, "-u", "ha", "-P", pw, "-t", topic, "-C", "1", "-W", "20")
		if code != 0 || !strings.Contains(out, "16") {
			t.Fatalf("mqtt%s with the right password: exit %d, output %q, want the retained state", v, code, out)
		}
	}
	for _, c := range []struct{ name, v, tool, user, pw string }{
		{"anonymous, mqtt5", "5", "mosquitto_sub", "", ""},
		{"anonymous, mqtt311", "311", "mosquitto_pub", "", ""},
		{"wrong password, mqtt5", "5", "mosquitto_pub", "ha", pw + "x"},
		{"wrong password, mqtt311", "311", "mosquitto_sub", "ha", pw + "x"},
		{"unknown user, mqtt311", "311", "mosquitto_sub", "nobody", pw},
	} {
		args := []string{"-V", c.v}
		if c.user != "" {
			args = append(args, "-u", c.user, "-P", c.pw)
		}
		if c.tool == "mosquitto_sub" {
			args = append(args, "-t", "hearth/#", "-C", "1", "-W", "20")
		} else {
			args = append(args, "-q", "1", "-t", "hearth/boolean/guest_mode/set", "-m", `{"value":true}`)
		}
		out, code := mosquitto(t, addr, c.tool, args...)
		if code == 0 || !refused(out) {
			t.Errorf("%s (%s): exit %d, output %q; want a non-zero exit and a refusal", c.name, c.tool, code, out)
		}
	}
	if got := text(t, r, "boolean.guest_mode", "value"); got != "false" {
		t.Errorf("guest_mode=%s after refused clients published: want false", got)
	}
	if got := r.d.broker.AuthFailures(); got != 5 {
		t.Errorf("AuthFailures()=%d, want 5", got)
	}
}

// auditRows are the audit rows of principal (all of them, once the group
// commit that holds after has landed).
func auditRows(t *testing.T, r *running, principal string) []store.AuditRow {
	t.Helper()
	rows, err := r.d.Store().QueryAudit(context.Background(), store.AuditQuery{Principal: principal})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestMosquitto_ACL(t *testing.T) {
	cfg := controlConfig(t)
	// Few retained state changes while clients subscribe: mochi v2.7.9
	// reads a topic node's retainPath without its lock while a retained
	// publish writes it (TopicsIndex.scanMessages and RetainMessage), a
	// race -race reports. A sensor read every 20 ms makes one likely.
	cfg.Hardware.Parts[0].Interval = Duration(time.Minute)
	cfg.MQTT.Listen = "127.0.0.1:0"
	r := MustStart(t, cfg)
	addr := r.d.broker.Addr()
	esp1 := mqttUser(t, r, "esp1", "device")
	esp2 := mqttUser(t, r, "esp2", "device")
	ha := mqttUser(t, r, "ha", "integration")
	admin := mqttUser(t, r, "admin", "admin")
	const lock = "lock.front_door"
	h := house(r)

	t.Run("a device cannot set the lock", func(t *testing.T) {
		// MQTT 5: a PUBACK with "not authorized"; 3.1.1 has no such
		// code, so the broker disconnects the client.
		for _, v := range []string{"5", "311"} {
			out, code := mosquitto(t, addr, "mosquitto_pub", "-V", v, "-q", "1", "-u", "esp1", "-P", esp1,
				"-t", "hearth/lock/front_door/set", "-m", `{"action":"lock"}`)
			t.Logf("mqtt%s: exit %d, %q", v, code, out)
			if v == "5" && !refused(out) {
				t.Errorf("mqtt5: output %q, want not authorized", out)
			}
			if v == "311" && code == 0 {
				t.Errorf("mqtt311: exit 0, %q; want the connection closed", out)
			}
		}
		// A command that is allowed, after: once its audit row is in,
		// the device's (had there been one) would be too.
		out, code := mosquitto(t, addr, "mosquitto_pub", "-V", "5", "-q", "1", "-u", "ha", "-P", ha,
			"-t", "hearth/boolean/guest_mode/set", "-m", `{"value":true}`)
		if code != 0 {
			t.Fatalf("integration command: exit %d, %q", code, out)
		}
		waitFor(t, func() bool { return len(auditRows(t, r, "mqtt:ha")) == 1 })
		if rows := auditRows(t, r, "mqtt:esp1"); len(rows) != 0 {
			t.Errorf("audit rows for the device: %+v", rows)
		}
		if got := text(t, r, lock, "state"); got != "unlocked" || h.Bolt.Position() > 0.1 {
			t.Errorf("lock %s, bolt at %.2f after a device's lock command: want unlocked, retracted", got, h.Bolt.Position())
		}
	})

	t.Run("a device cannot read another device's subtree", func(t *testing.T) {
		out, code := mosquitto(t, addr, "mosquitto_pub", "-V", "5", "-q", "1", "-r", "-u", "esp2", "-P", esp2,
			"-t", "devices/esp2/temperature", "-m", "21.5")
		if code != 0 || refused(out) {
			t.Fatalf("esp2 writing its own subtree: exit %d, %q", code, out)
		}
		// The retained message is there for a user who may read it...
		out, code = mosquitto(t, addr, "mosquitto_sub", "-V", "5", "-u", "admin", "-P", admin,
			"-t", "devices/esp2/#", "-C", "1", "-W", "20")
		if code != 0 || !strings.Contains(out, "21.5") {
			t.Fatalf("admin reading devices/esp2/#: exit %d, %q", code, out)
		}
		// ...and not for another device, at either version.
		for _, v := range []string{"5", "311"} {
			out, code := mosquitto(t, addr, "mosquitto_sub", "-V", v, "-u", "esp1", "-P", esp1,
				"-t", "devices/esp2/#", "-C", "1", "-W", "3")
			if strings.Contains(out, "21.5") {
				t.Errorf("mqtt%s: esp1 read esp2's message: %q", v, out)
			}
			// mosquitto_sub exits 0 when every subscription is refused.
			if !strings.Contains(out, "All subscription requests were denied") {
				t.Errorf("mqtt%s: esp1 subscribing to devices/esp2/#: exit %d, %q; want a refusal", v, code, out)
			}
			t.Logf("mqtt%s: exit %d, %q", v, code, out)
		}
	})

	t.Run("a device writes its own subtree and reads states", func(t *testing.T) {
		out, code := mosquitto(t, addr, "mosquitto_pub", "-V", "311", "-q", "1", "-r", "-u", "esp1", "-P", esp1,
			"-t", "devices/esp1/humidity", "-m", "48")
		if code != 0 {
			t.Fatalf("esp1 writing its own subtree: exit %d, %q", code, out)
		}
		out, code = mosquitto(t, addr, "mosquitto_sub", "-V", "311", "-u", "admin", "-P", admin,
			"-t", "devices/esp1/humidity", "-C", "1", "-W", "20")
		if code != 0 || strings.TrimSpace(out) != "48" {
			t.Fatalf("admin reading esp1's message: exit %d, %q", code, out)
		}
		out, code = mosquitto(t, addr, "mosquitto_sub", "-V", "5", "-u", "esp1", "-P", esp1, "-v",
			"-t", "hearth/+/+/state", "-C", "1", "-W", "20")
		if code != 0 || !strings.HasPrefix(out, "hearth/") || !strings.Contains(out, "/state {") {
			t.Fatalf("esp1 reading hearth/+/+/state: exit %d, %q", code, out)
		}
	})

	t.Run("an integration's command changes an entity and is audited", func(t *testing.T) {
		out, code := mosquitto(t, addr, "mosquitto_pub", "-V", "311", "-q", "1", "-u", "ha", "-P", ha,
			"-t", "hearth/lock/front_door/set", "-m", `{"action":"lock"}`)
		if code != 0 {
			t.Fatalf("exit %d, %q", code, out)
		}
		waitFor(t, func() bool { return text(t, r, lock, "state") == "locked" })
		waitFor(t, func() bool {
			for _, row := range auditRows(t, r, "mqtt:ha") {
				if row.Entity == lock && row.Action == "lock" && row.Outcome == "ok" && row.Source == "mqtt" {
					return true
				}
			}
			return false
		})
	})

	t.Run("an integration reads retained states and discovery configs", func(t *testing.T) {
		for _, c := range []struct {
			filter string
			want   []string
		}{
			{"hearth/#", []string{"hearth/lock/front_door/state {", "hearth/thermostat/living_room/state {", "hearth/status online"}},
			{"homeassistant/#", []string{"homeassistant/lock/hearth/lock_front_door/config {", "homeassistant/climate/hearth/thermostat_living_room/config {"}},
		} {
			// --retained-only: what a new subscriber is handed at once;
			// -W ends it (exit 27).
			out, code := mosquitto(t, addr, "mosquitto_sub", "-V", "311", "-u", "ha", "-P", ha, "-v", "--retained-only",
				"-t", c.filter, "-W", "2")
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("%s: exit %d, no %q in:\n%s", c.filter, code, want, out)
				}
			}
		}
	})

	t.Run("a malformed command is answered on its error topic and changes nothing", func(t *testing.T) {
		before := len(auditRows(t, r, "mqtt:ha"))
		state := text(t, r, lock, "state")
		for _, v := range []string{"5", "311"} {
			wait := mosquittoSub(t, r, "hearth/lock/front_door/error", "-V", v, "-u", "ha", "-P", ha, "-C", "1", "-W", "20")
			out, code := mosquitto(t, addr, "mosquitto_pub", "-V", v, "-q", "1", "-u", "ha", "-P", ha,
				"-t", "hearth/lock/front_door/set", "-m", `{"action":"unlock"`)
			if code != 0 {
				t.Fatalf("mqtt%s: publishing: exit %d, %q", v, code, out)
			}
			out, code = wait()
			if code != 0 || !strings.Contains(out, `{"error":"command: want a JSON object`) {
				t.Errorf("mqtt%s: on the error topic: exit %d, %q", v, code, out)
			}
		}
		// Then a good command, so the bad ones would have been audited by
		// the time its row is in.
		out, code := mosquitto(t, addr, "mosquitto_pub", "-q", "1", "-u", "ha", "-P", ha,
			"-t", "hearth/boolean/guest_mode/set", "-m", `{"value":false}`)
		if code != 0 {
			t.Fatalf("exit %d, %q", code, out)
		}
		waitFor(t, func() bool { return len(auditRows(t, r, "mqtt:ha")) == before+1 })
		if got := text(t, r, lock, "state"); got != state {
			t.Errorf("lock %s after malformed commands, was %s", got, state)
		}
		if rows, err := r.client.Audit(context.Background(), api.AuditQuery{Principal: "mqtt:ha", Entity: lock}); err != nil || len(rows) != 1 {
			t.Errorf("lock audit rows for mqtt:ha: %+v %v, want only the lock command", rows, err)
		}
	})
}
