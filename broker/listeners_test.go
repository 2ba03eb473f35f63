package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-hub/hearth/internal/testpki"
)

func TestLoadTLS(t *testing.T) {
	ca := testpki.NewCA(t, "load ca")
	cert, key := ca.IssueNow(t, "srv", true)
	_, otherKey := ca.IssueNow(t, "other", true)
	garbage := filepath.Join(ca.Dir, "garbage.txt")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(ca.Dir, "missing.pem")

	t.Run("ok", func(t *testing.T) {
		cfg, err := LoadTLS(cert, key, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.MinVersion, uint16(tls.VersionTLS12); got != want {
			t.Errorf("MinVersion=%x, want %x", got, want)
		}
		if got, want := cfg.ClientAuth, tls.NoClientCert; got != want {
			t.Errorf("ClientAuth=%v, want %v", got, want)
		}
		if got := len(cfg.Certificates); got != 1 {
			t.Errorf("%d certificates, want 1", got)
		}
	})
	t.Run("client CA", func(t *testing.T) {
		cfg, err := LoadTLS(cert, key, ca.File)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.ClientAuth, tls.RequireAndVerifyClientCert; got != want {
			t.Errorf("ClientAuth=%v, want %v", got, want)
		}
		if cfg.ClientCAs == nil {
			t.Error("ClientCAs is nil")
		}
	})
	bad := []struct {
		name                 string
		cert, key, ca        string
		which, file, message string
	}{
		{"cert missing", missing, key, "", "cert", missing, "file does not exist"},
		{"cert not PEM", garbage, key, "", "cert", garbage, "not PEM: want a -----BEGIN CERTIFICATE----- block"},
		{"cert is a key", key, key, "", "cert", key, `PEM block is "PRIVATE KEY", want "CERTIFICATE"`},
		{"key missing", cert, missing, "", "key", missing, "file does not exist"},
		{"key not PEM", cert, garbage, "", "key", garbage, "not PEM: want a -----BEGIN PRIVATE KEY----- block"},
		{"key is a cert", cert, cert, "", "key", cert, `PEM block is "CERTIFICATE", want "PRIVATE KEY"`},
		{"key of another cert", cert, otherKey, "", "key", otherKey, "the key does not match the certificate in " + cert},
		{"client CA missing", cert, key, missing, "client_ca", missing, "file does not exist"},
		{"client CA not PEM", cert, key, garbage, "client_ca", garbage, "not PEM"},
		{"client CA is a key", cert, key, key, "client_ca", key, `PEM block is "PRIVATE KEY"`},
		{"cert is a directory", ca.Dir, key, "", "cert", ca.Dir, "is a directory"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadTLS(tt.cert, tt.key, tt.ca)
			var fe *TLSFileError
			if !errors.As(err, &fe) {
				t.Fatalf("LoadTLS()=%v, %v, want a *TLSFileError", cfg, err)
			}
			if fe.Which != tt.which || fe.File != tt.file || !strings.Contains(fe.Err.Error(), tt.message) {
				t.Fatalf("got %s %s %q, want %s %s containing %q", fe.Which, fe.File, fe.Err, tt.which, tt.file, tt.message)
			}
			if prefix := "tls " + tt.which + " " + tt.file + ": "; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error()=%q, want it to start %q", err, prefix)
			}
		})
	}
}

func TestCertDates(t *testing.T) {
	ca := testpki.NewCA(t, "dates ca")
	now := time.Now()
	tests := []struct {
		name     string
		from, to time.Time
		want     string // "" for no error
	}{
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), ""},
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), `tls cert "expired" expired at `},
		{"not yet valid", now.Add(24 * time.Hour), now.Add(48 * time.Hour), `tls cert "not yet valid" is not valid before `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key := ca.Issue(t, tt.name, true, tt.from, tt.to)
			cfg, err := LoadTLS(cert, key, "")
			if err != nil {
				t.Fatalf("LoadTLS: %v (dates are not its business)", err)
			}
			err = CertDates(cfg, now)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CertDates()=%v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("CertDates()=%v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestTLS_Paho(t *testing.T) {
	ca := testpki.NewCA(t, "paho ca")
	b := tlsBroker(t, ca, nil)
	sub, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, "", ""), "admin", "pw-admin")
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	if err := sub.sub(t, "devices/#"); err != nil {
		t.Fatal(err)
	}
	pub, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, "", ""), "esp1", "pw-esp1")
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	roundTrip(t, sub, pub, "esp1", "over-tls")

	t.Run("untrusted CA", func(t *testing.T) {
		other := testpki.NewCA(t, "stranger ca")
		_, err := dialTLS(t, b.TLSAddr(), clientTLS(t, other, "", ""), "esp2", "pw-esp2")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("dial trusting another CA: %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("no password", func(t *testing.T) {
		if _, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, "", ""), "", ""); err == nil {
			t.Fatal("anonymous client accepted over TLS")
		}
	})
	t.Run("plain MQTT on the TLS port", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", b.TLSAddr(), waitFor)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := connectOver(t, conn, "esp2", "pw-esp2", ""); err == nil {
			t.Fatal("plain MQTT accepted on the TLS listener")
		}
	})
}

// tlsRefusal connects with cfg, sends a CONNECT with good credentials and
// returns the error that ends the connection; a CONNACK fails the test.
func tlsRefusal(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitFor}, Config: cfg}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return err // TLS 1.2 refuses during the handshake
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	body := appendStr(nil, "MQTT")
	body = append(body, 4, 0xC2, 0, 60) // 3.1.1, user, password, clean, keepalive
	body = appendStr(appendStr(appendStr(body, "refused"), "esp1"), "pw-esp1")
	if _, err := conn.Write(appendPacket(nil, 0x10, body)); err != nil {
		return err // TLS 1.3 refuses after the client's half of the handshake
	}
	rc := &rawConn{c: conn, r: bufio.NewReader(conn)}
	h, ack, err := rc.readPacket()
	if err == nil {
		t.Fatalf("got packet %x %x, want the connection refused", h, ack)
	}
	return err
}

func TestTLS_ClientCert(t *testing.T) {
	ca := testpki.NewCA(t, "server ca")
	devices := testpki.NewCA(t, "device ca")
	b := tlsBroker(t, ca, devices)
	goodCert, goodKey := devices.IssueNow(t, "esp1", false)

	t.Run("no client cert", func(t *testing.T) {
		err := tlsRefusal(t, b.TLSAddr(), clientTLS(t, ca, "", ""))
		if !strings.Contains(err.Error(), "tls: certificate required") && !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Fatalf("refused with %v, want a TLS alert about the missing certificate", err)
		}
	})
	t.Run("cert from another CA", func(t *testing.T) {
		stranger := testpki.NewCA(t, "stranger ca")
		cert, key := stranger.IssueNow(t, "esp1", false)
		err := tlsRefusal(t, b.TLSAddr(), clientTLS(t, ca, cert, key))
		if !strings.Contains(err.Error(), "tls: unknown certificate authority") && !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Fatalf("refused with %v, want a TLS alert about the certificate", err)
		}
	})
	t.Run("good cert and password", func(t *testing.T) {
		sub, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, goodCert, goodKey), "admin", "pw-admin")
		if err != nil {
			t.Fatalf("connect with a client cert: %v", err)
		}
		if err := sub.sub(t, "devices/#"); err != nil {
			t.Fatal(err)
		}
		pub, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, goodCert, goodKey), "esp1", "pw-esp1")
		if err != nil {
			t.Fatalf("connect with a client cert: %v", err)
		}
		roundTrip(t, sub, pub, "esp1", "with-client-cert")
	})
	t.Run("good cert and wrong password", func(t *testing.T) {
		before := b.AuthFailures()
		if _, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, goodCert, goodKey), "esp1", "wrong"); err == nil {
			t.Fatal("wrong password accepted with a good client cert")
		}
		if got, want := b.AuthFailures(), before+1; got != want {
			t.Fatalf("AuthFailures()=%d, want %d", got, want)
		}
	})
}

// mosquitto runs a Debian mosquitto client with args and returns its exit
// status, stdout and stderr.
func mosquitto(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("%s %s: %v (is mosquitto-clients installed? make deps)", name, strings.Join(args, " "), err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestTLS_Mosquitto(t *testing.T) {
	ca := testpki.NewCA(t, "mosquitto ca")
	devices := testpki.NewCA(t, "device ca")
	for _, withCert := range []bool{false, true} {
		name := "server cert"
		if withCert {
			name = "client cert"
		}
		t.Run(name, func(t *testing.T) {
			var b *Broker
			conn := []string{"-h", "127.0.0.1", "--cafile", ca.File}
			if withCert {
				b = tlsBroker(t, ca, devices)
				cert, key := devices.IssueNow(t, "mosquitto-client", false)
				conn = append(conn, "--cert", cert, "--key", key)
			} else {
				b = tlsBroker(t, ca, nil)
			}
			_, port, _ := net.SplitHostPort(b.TLSAddr())
			conn = append(conn, "-p", port)
			args := func(more ...string) []string { return append(append([]string(nil), conn...), more...) }

			code, _, stderr := mosquitto(t, "mosquitto_pub", args("-u", "esp1", "-P", "pw-esp1", "-q", "1", "-r", "-t", "devices/esp1/temp", "-m", "21.5")...)
			if code != 0 {
				t.Fatalf("mosquitto_pub exit %d: %s", code, stderr)
			}
			code, stdout, stderr := mosquitto(t, "mosquitto_sub", args("-u", "admin", "-P", "pw-admin", "-t", "devices/esp1/#", "-v", "-C", "1", "-W", "10")...)
			if code != 0 {
				t.Fatalf("mosquitto_sub exit %d: %s", code, stderr)
			}
			if got, want := strings.TrimSpace(stdout), "devices/esp1/temp 21.5"; got != want {
				t.Fatalf("mosquitto_sub printed %q, want %q (the retained message)", got, want)
			}

			code, stdout, stderr = mosquitto(t, "mosquitto_sub", args("-t", "devices/#", "-C", "1", "-W", "10")...)
			if code == 0 || stdout != "" || !strings.Contains(stderr, "not authorised") {
				t.Fatalf("mosquitto_sub without credentials: exit %d, stdout %q, stderr %q; want a refusal that says not authorised", code, stdout, stderr)
			}
			if withCert {
				code, stdout, stderr = mosquitto(t, "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "--cafile", ca.File,
					"-u", "admin", "-P", "pw-admin", "-t", "devices/#", "-C", "1", "-W", "10")
				// The refusal is a TLS alert after the handshake, which
				// mosquitto reports as a lost connection.
				if code == 0 || stdout != "" || !strings.Contains(stderr, "The connection was lost") {
					t.Fatalf("mosquitto_sub without a client cert: exit %d, stdout %q, stderr %q; want the connection lost", code, stdout, stderr)
				}
			}
		})
	}
}

// dialWS connects a paho client over ws://addr/ with subprotocol mqtt.
func dialWS(t *testing.T, addr, user, pw string) (*client, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitFor}
	ws, resp, err := d.DialContext(t.Context(), "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("websocket dial %s: %v", addr, err)
	}
	if got := resp.Header.Get("Sec-Websocket-Protocol"); got != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt", got)
	}
	return connectOver(t, &wsConn{Conn: ws.NetConn(), ws: ws}, user, pw, "")
}

func TestWebsocket(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t), WebsocketAddr: "127.0.0.1:0"})
	if _, port, _ := net.SplitHostPort(b.WebsocketAddr()); port == "" || port == "0" {
		t.Fatalf("WebsocketAddr()=%q, want the bound address", b.WebsocketAddr())
	}
	sub, err := dialWS(t, b.WebsocketAddr(), "admin", "pw-admin")
	if err != nil {
		t.Fatalf("connect over websocket: %v", err)
	}
	if err := sub.sub(t, "devices/#"); err != nil {
		t.Fatal(err)
	}
	pub, err := dialWS(t, b.WebsocketAddr(), "esp1", "pw-esp1")
	if err != nil {
		t.Fatalf("connect over websocket: %v", err)
	}
	roundTrip(t, sub, pub, "esp1", "over-websocket")
	// Websocket and TCP clients share one broker.
	roundTrip(t, sub, mustDial(t, b, "esp2", "pw-esp2"), "esp2", "tcp-to-websocket")

	if _, err := dialWS(t, b.WebsocketAddr(), "", ""); err == nil {
		t.Error("anonymous client accepted over websocket")
	}
	if _, err := dialWS(t, b.WebsocketAddr(), "esp2", "wrong"); err == nil {
		t.Error("wrong password accepted over websocket")
	}
	if got, want := b.AuthFailures(), uint64(2); got != want {
		t.Errorf("AuthFailures()=%d, want %d", got, want)
	}
}

func TestNew_Listeners(t *testing.T) {
	ca := testpki.NewCA(t, "new ca")
	cert, key := ca.IssueNow(t, "srv", true)
	cfg, err := LoadTLS(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	quiet := startBroker(t, Options{Users: listenerUsers(t)}).log // a discarding logger

	t.Run("TLS only", func(t *testing.T) {
		b, err := New(Options{Users: listenerUsers(t), NoTCP: true, TLSAddr: "127.0.0.1:0", TLS: cfg, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := b.Addr(); got != "" {
			t.Errorf("Addr()=%q with NoTCP, want \"\"", got)
		}
		if got := b.WebsocketAddr(); got != "" {
			t.Errorf("WebsocketAddr()=%q without one, want \"\"", got)
		}
		if _, err := dialTLS(t, b.TLSAddr(), clientTLS(t, ca, "", ""), "esp1", "pw-esp1"); err != nil {
			t.Fatalf("connect over TLS: %v", err)
		}
	})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := []struct {
		name string
		opts Options
		want string
	}{
		{"no listener", Options{NoTCP: true}, "broker: no listener: NoTCP without TLSAddr or WebsocketAddr"},
		{"TLSAddr without TLS", Options{TLSAddr: "127.0.0.1:0"}, "broker: TLSAddr 127.0.0.1:0 without a TLS config"},
		{"TLS without TLSAddr", Options{TLS: cfg}, "broker: a TLS config without TLSAddr"},
		{"TLS port taken", Options{Addr: "127.0.0.1:0", TLSAddr: busy.Addr().String(), TLS: cfg}, "broker: listen tls " + busy.Addr().String() + ": "},
		{"websocket port taken", Options{Addr: "127.0.0.1:0", WebsocketAddr: busy.Addr().String()}, "broker: listen websocket " + busy.Addr().String() + ": "},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Users, tt.opts.Logger = listenerUsers(t), quiet
			b, err := New(tt.opts)
			if err == nil {
				b.Close()
				t.Fatalf("New() succeeded, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("New()=%v, want an error starting %q", err, tt.want)
			}
		})
	}
	// A failed New released what it had bound: the TCP port is free again.
	t.Run("releases on failure", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, err := New(Options{Users: listenerUsers(t), Logger: quiet, Addr: addr, TLSAddr: busy.Addr().String(), TLS: cfg}); err == nil {
			t.Fatal("New() succeeded on a taken TLS port")
		}
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("TCP port still bound after New failed: %v", err)
		}
		ln.Close()
	})
}
