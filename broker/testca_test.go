package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
