package broker

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/hearth-hub/hearth/internal/testpki"
)

// Helpers for the TLS tests; the certificates come from testpki.

// clientTLS is a client config trusting ca, with the certificate in
// certFile and keyFile if they are not "".
func clientTLS(t *testing.T, ca *testpki.CA, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
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
func tlsBroker(t *testing.T, ca, clientCA *testpki.CA) *Broker {
	t.Helper()
	certFile, keyFile := ca.IssueNow(t, "broker", true)
	caFile := ""
	if clientCA != nil {
		caFile = clientCA.File
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
