package daemon

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/internal/testpki"
)

func TestMQTT_Listeners(t *testing.T) {
	cfg := testConfig(t)
	ca := testpki.NewCA(t, "daemon test ca")
	certFile, keyFile := ca.IssueNow(t, "broker", true)
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.MQTT.TLS = MQTTTLSConfig{Listen: "127.0.0.1:0", Cert: certFile, Key: keyFile}
	cfg.MQTT.Websocket.Listen = "127.0.0.1:0"
	cfg.MQTT.MaxPacketSize = 2048
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := MustStart(t, cfg)
	b := r.d.broker
	for name, addr := range map[string]string{"TLSAddr": b.TLSAddr(), "WebsocketAddr": b.WebsocketAddr()} {
		if _, port, _ := net.SplitHostPort(addr); port == "" || port == "0" {
			t.Fatalf("%s()=%q, want the bound address", name, addr)
		}
	}
	u, err := r.client.AddMQTTUser(context.Background(), "dashboard", "integration")
	if err != nil {
		t.Fatal(err)
	}
	dialTLS := func() net.Conn {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: ca.Pool()}}
		conn, err := d.DialContext(t.Context(), "tcp", b.TLSAddr())
		if err != nil {
			t.Fatalf("TLS handshake with the daemon's broker: %v", err)
		}
		return conn
	}
	if _, _, _, err := mqttConnectOver(t, dialTLS(), "", ""); err == nil {
		t.Fatal("anonymous client accepted over TLS")
	}
	_, _, ack, err := mqttConnectOver(t, dialTLS(), "dashboard", u.Password)
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	// mqtt.max_packet_size reached the broker: it is announced to MQTT 5 clients.
	if got := ack.Properties.MaximumPacketSize; got == nil || *got != 2048 {
		t.Fatalf("CONNACK Maximum Packet Size %v, want 2048", got)
	}
	// The websocket listener answers HTTP; a request that is no websocket
	// upgrade is refused with 400.
	conn, err := net.DialTimeout("tcp", b.WebsocketAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: hearth\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	status := make([]byte, 12)
	if _, err := io.ReadFull(conn, status); err != nil || string(status) != "HTTP/1.1 400" {
		t.Fatalf("websocket listener answered %q, %v; want HTTP/1.1 400", status, err)
	}
}

func TestMQTT_TLSFiles(t *testing.T) {
	ca := testpki.NewCA(t, "daemon test ca")
	certFile, keyFile := ca.IssueNow(t, "broker", true)
	missing := filepath.Join(ca.Dir, "missing.pem")
	tests := []struct {
		name      string
		tls       MQTTTLSConfig
		wantError string
	}{
		{"cert missing", MQTTTLSConfig{Cert: missing, Key: keyFile}, "mqtt.tls.cert " + missing + ": file does not exist"},
		{"key is a cert", MQTTTLSConfig{Cert: certFile, Key: certFile}, "mqtt.tls.key " + certFile + `: PEM block is "CERTIFICATE", want "PRIVATE KEY"`},
		{"client CA missing", MQTTTLSConfig{Cert: certFile, Key: keyFile, ClientCA: missing}, "mqtt.tls.client_ca " + missing + ": file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MQTT.Listen = "127.0.0.1:0"
			cfg.MQTT.TLS = tt.tls
			cfg.MQTT.TLS.Listen = "127.0.0.1:0"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d, err := New(cfg, io.Discard)
			if err == nil {
				d.Close()
				t.Fatalf("New() started with %+v, want %q", tt.tls, tt.wantError)
			}
			if !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("New()=%v, want %q", err, tt.wantError)
			}
		})
	}
}
