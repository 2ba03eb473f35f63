package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
)

// testCA is a certificate authority made for one test; its files live
// in the test's temporary directory.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	file string // the CA certificate, PEM
}

var serial int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := mustKey(t)
	now := time.Now()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	ca.file = writePEM(t, ca.dir, strings.ReplaceAll(name, " ", "_")+".pem", "CERTIFICATE", der)
	return ca
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a certificate for cn, signed by ca and valid from..to, and
// its key; a server certificate is for 127.0.0.1 and localhost.
func (ca *testCA) issue(t *testing.T, cn string, server bool, from, to time.Time) (certFile, keyFile string) {
	t.Helper()
	key := mustKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    from,
		NotAfter:     to,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, ca.dir, cn+".crt", "CERTIFICATE", der), writePEM(t, ca.dir, cn+".key", "PRIVATE KEY", keyDER)
}

// issueNow is issue for a certificate valid from an hour ago for a day.
func (ca *testCA) issueNow(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	return ca.issue(t, cn, server, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// clientTLS is a client config trusting ca, with the certificate in
// certFile and keyFile if they are not "".
func (ca *testCA) clientTLS(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.pool(), ServerName: "127.0.0.1"}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		// Sent whatever CAs the server asks for, so a certificate from
		// the wrong CA reaches the server and is refused there.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return cfg
}

// tlsBroker starts a broker with a TLS listener whose certificate ca
// signed; clients need a certificate from clientCA unless it is nil.
// Users are testUsers and "admin" (pw-admin).
func tlsBroker(t *testing.T, ca, clientCA *testCA) *Broker {
	t.Helper()
	certFile, keyFile := ca.issueNow(t, "broker", true)
	caFile := ""
	if clientCA != nil {
		caFile = clientCA.file
	}
	cfg, err := LoadTLS(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, Options{Users: listenerUsers(t), TLSAddr: "127.0.0.1:0", TLS: cfg})
	if _, port, _ := net.SplitHostPort(b.TLSAddr()); port == "" || port == "0" {
		t.Fatalf("TLSAddr()=%q, want the bound address", b.TLSAddr())
	}
	return b
}

func listenerUsers(t *testing.T) *MemUsers {
	t.Helper()
	u := testUsers(t)
	u.Put(User{Name: "admin", Hash: hash(t, "pw-admin"), Role: RoleAdmin})
	return u
}

// dialTLS connects a paho client over TLS with cfg.
func dialTLS(t *testing.T, addr string, cfg *tls.Config, user, pw string) (*client, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitFor}, Config: cfg}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return connectOver(t, conn, user, pw, "")
}

// roundTrip checks that a message from pub on devices/<pubUser>/<name>
// reaches sub, subscribed to devices/#.
func roundTrip(t *testing.T, sub, pub *client, pubUser, name string) {
	t.Helper()
	topic := "devices/" + pubUser + "/" + name
	if err := pub.pub(t, topic, name); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	if m := sub.await(t, topic); string(m.Payload) != name {
		t.Fatalf("payload %q on %s, want %q", m.Payload, topic, name)
	}
}

func TestLoadTLS(t *testing.T) {
	ca := newTestCA(t, "load ca")
	cert, key := ca.issueNow(t, "srv", true)
	_, otherKey := ca.issueNow(t, "other", true)
	garbage := filepath.Join(ca.dir, "garbage.txt")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(ca.dir, "missing.pem")

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
		cfg, err := LoadTLS(cert, key, ca.file)
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
		{"cert is a directory", ca.dir, key, "", "cert", ca.dir, "is a directory"},
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
	ca := newTestCA(t, "dates ca")
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
			cert, key := ca.issue(t, tt.name, true, tt.from, tt.to)
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
	ca := newTestCA(t, "paho ca")
	b := tlsBroker(t, ca, nil)
	sub, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, "", ""), "admin", "pw-admin")
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	if err := sub.sub(t, "devices/#"); err != nil {
		t.Fatal(err)
	}
	pub, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, "", ""), "esp1", "pw-esp1")
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	roundTrip(t, sub, pub, "esp1", "over-tls")

	t.Run("untrusted CA", func(t *testing.T) {
		other := newTestCA(t, "stranger ca")
		_, err := dialTLS(t, b.TLSAddr(), other.clientTLS(t, "", ""), "esp2", "pw-esp2")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("dial trusting another CA: %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("no password", func(t *testing.T) {
		if _, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, "", ""), "", ""); err == nil {
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
	ca := newTestCA(t, "server ca")
	devices := newTestCA(t, "device ca")
	b := tlsBroker(t, ca, devices)
	goodCert, goodKey := devices.issueNow(t, "esp1", false)

	t.Run("no client cert", func(t *testing.T) {
		err := tlsRefusal(t, b.TLSAddr(), ca.clientTLS(t, "", ""))
		if !strings.Contains(err.Error(), "tls: certificate required") && !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Fatalf("refused with %v, want a TLS alert about the missing certificate", err)
		}
	})
	t.Run("cert from another CA", func(t *testing.T) {
		stranger := newTestCA(t, "stranger ca")
		cert, key := stranger.issueNow(t, "esp1", false)
		err := tlsRefusal(t, b.TLSAddr(), ca.clientTLS(t, cert, key))
		if !strings.Contains(err.Error(), "tls: unknown certificate authority") && !strings.Contains(err.Error(), "tls: bad certificate") {
			t.Fatalf("refused with %v, want a TLS alert about the certificate", err)
		}
	})
	t.Run("good cert and password", func(t *testing.T) {
		sub, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, goodCert, goodKey), "admin", "pw-admin")
		if err != nil {
			t.Fatalf("connect with a client cert: %v", err)
		}
		if err := sub.sub(t, "devices/#"); err != nil {
			t.Fatal(err)
		}
		pub, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, goodCert, goodKey), "esp1", "pw-esp1")
		if err != nil {
			t.Fatalf("connect with a client cert: %v", err)
		}
		roundTrip(t, sub, pub, "esp1", "with-client-cert")
	})
	t.Run("good cert and wrong password", func(t *testing.T) {
		before := b.AuthFailures()
		if _, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, goodCert, goodKey), "esp1", "wrong"); err == nil {
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
	ca := newTestCA(t, "mosquitto ca")
	devices := newTestCA(t, "device ca")
	for _, withCert := range []bool{false, true} {
		name := "server cert"
		if withCert {
			name = "client cert"
		}
		t.Run(name, func(t *testing.T) {
			var b *Broker
			conn := []string{"-h", "127.0.0.1", "--cafile", ca.file}
			if withCert {
				b = tlsBroker(t, ca, devices)
				cert, key := devices.issueNow(t, "mosquitto-client", false)
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
				code, stdout, stderr = mosquitto(t, "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "--cafile", ca.file,
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
	ca := newTestCA(t, "new ca")
	cert, key := ca.issueNow(t, "srv", true)
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
		if _, err := dialTLS(t, b.TLSAddr(), ca.clientTLS(t, "", ""), "esp1", "pw-esp1"); err != nil {
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

// appendLength appends n as MQTT's variable byte integer.
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// rawConnect logs in with a raw MQTT 3.1.1 (version 4) or 5 client and
// returns it with the CONNACK's body.
func rawConnect(t *testing.T, addr, id, user, pw string, version byte) (*rawConn, []byte) {
	t.Helper()
	rc := rawOpen(t, addr)
	c := rc.c
	body := appendStr(nil, "MQTT")
	body = append(body, version, 0xC2, 0, 60) // user, password, clean; keepalive 60 s
	if version == 5 {
		body = append(body, 0) // no properties
	}
	body = appendStr(appendStr(appendStr(body, id), user), pw)
	if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	h, ack, err := rc.readPacket()
	if err != nil || h != 0x20 || len(ack) < 2 || ack[1] != 0 {
		t.Fatalf("connect %s: %x %x %v", id, h, ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return rc, ack
}

// rawOpen is a TCP connection to addr that has sent nothing yet.
func rawOpen(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

// rawPublish is a QoS 0 PUBLISH packet; MQTT 5 adds an empty property list.
func rawPublish(version byte, topic string, payload []byte) []byte {
	body := appendStr(nil, topic)
	if version == 5 {
		body = append(body, 0)
	}
	return appendPacket(nil, 0x30, append(body, payload...))
}

// packet is one packet a raw client read.
type packet struct {
	header byte
	body   []byte
}

// closedAfter reads from rc until the broker closes the connection and
// returns what it sent before; a connection still open after waitFor
// fails the test.
func closedAfter(t *testing.T, rc *rawConn) []packet {
	t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(waitFor))
	var got []packet
	for {
		h, body, err := rc.readPacket()
		if err == nil {
			got = append(got, packet{h, body})
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v (read %x)", waitFor, got)
		}
		return got
	}
}

// nextMsg is the next message sub receives, whatever its topic.
func nextMsg(t *testing.T, sub *client) *paho.Publish {
	t.Helper()
	select {
	case m := <-sub.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no message within %v", waitFor)
		return nil
	}
}

// stillServes checks that the broker serves a new client: esp2 publishes
// devices/esp2/<tag>, and it must be the next message sub (on devices/#)
// gets, so nothing a refused client sent before got through.
func stillServes(t *testing.T, b *Broker, sub *client, tag string) {
	t.Helper()
	pub := mustDial(t, b, "esp2", "pw-esp2")
	if err := pub.pub(t, "devices/esp2/"+tag, tag); err != nil {
		t.Fatalf("publish after the refused client: %v", err)
	}
	if m := nextMsg(t, sub); m.Topic != "devices/esp2/"+tag || string(m.Payload) != tag {
		t.Fatalf("subscriber got %s %.40q, want devices/esp2/%s", m.Topic, m.Payload, tag)
	}
}

// watcher is an admin client subscribed to devices/#.
func watcher(t *testing.T, b *Broker) *client {
	t.Helper()
	sub := mustDial(t, b, "admin", "pw-admin")
	if err := sub.sub(t, "devices/#"); err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestMaxPacketSize(t *testing.T) {
	const limit = 4096
	b := startBroker(t, Options{Users: listenerUsers(t), MaxPacketSize: limit})
	sub := watcher(t, b)
	// A packet just under the limit passes.
	fits := bytes.Repeat([]byte("f"), limit-200)
	if err := mustDial(t, b, "esp1", "pw-esp1").pub(t, "devices/esp1/fits", string(fits)); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); m.Topic != "devices/esp1/fits" || len(m.Payload) != len(fits) {
		t.Fatalf("got %s with %d bytes, want devices/esp1/fits with %d", m.Topic, len(m.Payload), len(fits))
	}
	for _, version := range []byte{4, 5} {
		t.Run("MQTT "+strconv.Itoa(int(version)), func(t *testing.T) {
			rc, ack := rawConnect(t, b.Addr(), "big"+strconv.Itoa(int(version)), "esp1", "pw-esp1", version)
			// MQTT 5 clients are told the limit: property 0x27 in the CONNACK.
			announce := binary.BigEndian.AppendUint32([]byte{0x27}, limit)
			if version == 5 && !bytes.Contains(ack[2:], announce) {
				t.Errorf("CONNACK %x does not announce Maximum Packet Size %d", ack, limit)
			}
			if _, err := rc.c.Write(rawPublish(version, "devices/esp1/big", make([]byte, limit+1000))); err != nil {
				t.Fatal(err)
			}
			for _, p := range closedAfter(t, rc) {
				if p.header != 0xE0 || version != 5 || len(p.body) == 0 || p.body[0] != 0x95 {
					t.Errorf("broker sent %x %x, want nothing or DISCONNECT 0x95 (packet too large)", p.header, p.body)
				}
			}
			stillServes(t, b, sub, "after-big-"+strconv.Itoa(int(version)))
		})
	}
}

// A length field claiming 200 MB must not make the broker allocate it:
// mochi allocates a packet's buffer from the header before reading it,
// so the packet size limit is what guards it.
func TestMaxPacketSize_LyingLength(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t)}) // DefaultMaxPacketSize
	sub := watcher(t, b)
	const claim = 200 << 20
	tests := []struct {
		name   string
		login  bool
		header byte
	}{
		{"CONNECT before login", false, 0x10},
		{"PUBLISH after login", true, 0x30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var rc *rawConn
			if tt.login {
				rc, _ = rawConnect(t, b.Addr(), "liar", "esp1", "pw-esp1", 4)
			} else {
				rc = rawOpen(t, b.Addr())
			}
			pkt := appendLength([]byte{tt.header}, claim)
			if _, err := rc.c.Write(append(pkt, "only a few bytes"...)); err != nil {
				t.Fatal(err)
			}
			if got := closedAfter(t, rc); len(got) != 0 {
				t.Errorf("broker sent %x, want the connection closed", got)
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew >= claim/2 {
				t.Fatalf("%d MB allocated while refusing a %d MB claim", grew>>20, claim>>20)
			}
			stillServes(t, b, sub, strings.ReplaceAll(tt.name, " ", "-"))
		})
	}
}

// Malformed packets close the connection and harm no one else. Covered
// elsewhere: anonymous and bad logins (TestAuth), ACL refusals (TestACL).
func TestMalformed(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t)})
	sub := watcher(t, b)
	connect := func(name string, version byte) []byte {
		body := appendStr(nil, name)
		body = append(body, version, 0xC2, 0, 60)
		body = appendStr(appendStr(appendStr(body, "malformed"), "admin"), "pw-admin")
		return appendPacket(nil, 0x10, body)
	}
	tests := []struct {
		name  string
		login bool   // send after logging in as admin (MQTT 3.1.1)
		send  []byte // then the client half-closes, unless open
		open  bool   // the client keeps its side open
	}{
		{"length of five bytes", true, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0}, true},
		{"protocol name MQTX", false, connect("MQTX", 4), true},
		{"protocol version 9", false, connect("MQTT", 9), true},
		{"invalid UTF-8 topic", true, rawPublish(4, "devices/\xff\xfe", []byte("x")), true},
		{"wildcard + in PUBLISH topic", true, rawPublish(4, "devices/+/x", []byte("x")), true},
		{"wildcard # in PUBLISH topic", true, rawPublish(4, "devices/#", []byte("x")), true},
		{"packet type 0", true, []byte{0x00, 0x00}, true},
		{"packet type 15 in 3.1.1", true, []byte{0xF0, 0x02, 0x00, 0x00}, true},
		{"packet type 15 without body", true, []byte{0xF0, 0x00}, true},
		{"a CONNACK from the client", true, []byte{0x20, 0x02, 0x00, 0x00}, true},
		{"second CONNECT", true, connect("MQTT", 4), true},
		{"PUBLISH QoS 3", true, []byte{0x36, 0x03, 0x00, 0x01, 'x'}, true},
		{"truncated CONNECT", false, connect("MQTT", 4)[:12], false},
		{"truncated PUBLISH", true, rawPublish(4, "devices/cut", []byte("payload"))[:9], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc *rawConn
			if tt.login {
				rc, _ = rawConnect(t, b.Addr(), "malformed", "admin", "pw-admin", 4)
			} else {
				rc = rawOpen(t, b.Addr())
			}
			if _, err := rc.c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if !tt.open {
				if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range closedAfter(t, rc) {
				if p.header == 0x20 && len(p.body) == 2 && p.body[1] != 0 {
					continue // a CONNACK refusing the CONNECT is fine
				}
				t.Errorf("broker sent %x %x, want the connection closed", p.header, p.body)
			}
			stillServes(t, b, sub, strings.NewReplacer(" ", "-", "#", "hash", "+", "plus").Replace(tt.name))
		})
	}
}

// A client that sends nothing, or stops inside its CONNECT, is
// disconnected after ConnectTimeout instead of holding its connection.
func TestConnectTimeout(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t), ConnectTimeout: 300 * time.Millisecond})
	sub := watcher(t, b)
	body := appendStr(nil, "MQTT")
	half := appendPacket(nil, 0x10, append(body, 4, 0xC2, 0, 60, 0, 4, 's', 'l', 'o', 'w'))[:10]
	for _, send := range [][]byte{nil, half} {
		name := "silent"
		if send != nil {
			name = "half a CONNECT"
		}
		t.Run(name, func(t *testing.T) {
			rc := rawOpen(t, b.Addr())
			if _, err := rc.c.Write(send); err != nil {
				t.Fatal(err)
			}
			if got := closedAfter(t, rc); len(got) != 0 {
				t.Errorf("broker sent %x, want the connection closed", got)
			}
			stillServes(t, b, sub, strings.ReplaceAll(name, " ", "-"))
		})
	}
	// A client that logs in is not cut off by the timeout: its keepalive
	// applies from then on.
	c := mustDial(t, b, "esp1", "pw-esp1")
	time.Sleep(time.Second)
	roundTrip(t, sub, c, "esp1", "logged-in")
}
