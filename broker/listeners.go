package broker

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// DefaultMaxPacketSize is the largest MQTT packet a client may send when
// Options.MaxPacketSize is 0: 256 KiB. mochi allocates a packet's buffer
// from the length in its header before reading it, so this limit is also
// what keeps a lying header from costing the broker memory.
const DefaultMaxPacketSize = 256 << 10

// DefaultConnectTimeout is how long a new connection has for its TLS
// handshake and CONNECT packet when Options.ConnectTimeout is 0.
const DefaultConnectTimeout = 10 * time.Second

// TLSFileError is a TLS file that LoadTLS could not use. Which is the
// file's role, "cert", "key" or "client_ca", so callers can name the
// setting it came from.
type TLSFileError struct {
	Which string
	File  string
	Err   error
}

func (e *TLSFileError) Error() string {
	return fmt.Sprintf("tls %s %s: %v", e.Which, e.File, e.Err)
}

func (e *TLSFileError) Unwrap() error { return e.Err }

// LoadTLS reads a PEM certificate chain and its private key for a TLS
// listener, and with clientCAFile set also the CA whose certificates
// clients must present. Errors are *TLSFileError. TLS 1.2 is the minimum.
//
// Certificate dates are not checked here: a hub often boots before its
// clock is set, and refusing to start over a date would stop the whole
// daemon. CertDates reports them, for a warning.
func LoadTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	certPEM, err := readPEM("cert", certFile, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPEM("key", keyFile, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			err = fmt.Errorf("the key does not match the certificate in %s", certFile)
		}
		return nil, &TLSFileError{Which: "key", File: keyFile, Err: err}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAFile == "" {
		return cfg, nil
	}
	caPEM, err := readPEM("client_ca", clientCAFile, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &TLSFileError{Which: "client_ca", File: clientCAFile, Err: errors.New("no certificate in it could be parsed")}
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// readPEM reads file and checks that its first PEM block's type ends
// with want ("CERTIFICATE", "PRIVATE KEY" also matching "EC PRIVATE KEY"
// and "RSA PRIVATE KEY"), and, for certificates, that each block parses.
func readPEM(which, file, want string) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, &TLSFileError{Which: which, File: file, Err: fmt.Errorf(format, args...)}
	}
	raw, err := os.ReadFile(file)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail("file does not exist")
	case errors.As(err, &pe):
		return fail("%w", pe.Err) // the path is in the message already
	case err != nil:
		return fail("%w", err)
	}
	block, rest := pem.Decode(raw)
	if block == nil {
		return fail("not PEM: want a -----BEGIN %s----- block", want)
	}
	if !strings.HasSuffix(block.Type, want) {
		return fail("PEM block is %q, want %q", block.Type, want)
	}
	for n := 1; block != nil && want == "CERTIFICATE"; n++ {
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fail("certificate %d: %v", n, err)
		}
		block, rest = pem.Decode(rest)
	}
	return raw, nil
}

// CertDates returns an error describing why cfg's first certificate is not
// valid at now (expired, or not valid yet), or nil. Clients refuse such a
// certificate; the daemon logs this as a warning and keeps running.
func CertDates(cfg *tls.Config, now time.Time) error {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return nil
	}
	c, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return fmt.Errorf("tls cert: %w", err)
	}
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("tls cert %q expired at %s: clients will refuse it", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("tls cert %q is not valid before %s (is the clock set?): clients will refuse it", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// listen sets the packet size limit and adds the listeners opts ask for,
// each bound before New returns.
func (b *Broker) listen(opts Options) error {
	b.srv.Options.Capabilities.MaximumPacketSize = maxPacketSize(opts)
	switch {
	case opts.TLSAddr != "" && opts.TLS == nil:
		return fmt.Errorf("broker: TLSAddr %s without a TLS config", opts.TLSAddr)
	case opts.TLSAddr == "" && opts.TLS != nil:
		return fmt.Errorf("broker: a TLS config without TLSAddr")
	case opts.NoTCP && opts.TLSAddr == "" && opts.WebsocketAddr == "":
		return fmt.Errorf("broker: no listener: NoTCP without TLSAddr or WebsocketAddr")
	}
	wait := opts.ConnectTimeout
	if wait <= 0 {
		wait = DefaultConnectTimeout
	}
	cl := newConnLog(b.log)
	if !opts.NoTCP {
		b.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: opts.Addr})
		if err := b.srv.AddListener(connectTimeout{b.tcp, wait, cl}); err != nil {
			return fmt.Errorf("broker: listen %s: %w", opts.Addr, err)
		}
	}
	if opts.TLSAddr != "" {
		b.tls = listeners.NewTCP(listeners.Config{ID: "tls", Address: opts.TLSAddr, TLSConfig: serverTLS(opts.TLS)})
		if err := b.srv.AddListener(connectTimeout{b.tls, wait, cl}); err != nil {
			return fmt.Errorf("broker: listen tls %s: %w", opts.TLSAddr, err)
		}
	}
	if opts.WebsocketAddr != "" {
		b.ws = newWSListener("ws", opts.WebsocketAddr)
		if err := b.srv.AddListener(connectTimeout{b.ws, wait, cl}); err != nil {
			return fmt.Errorf("broker: listen websocket %s: %w", opts.WebsocketAddr, err)
		}
	}
	return nil
}

// connectTimeout gives each new connection a read deadline. mochi sets
// none until it has parsed a CONNECT (then the keepalive's), so a client
// that connects and sends nothing, or half a CONNECT, would hold its
// connection and goroutines forever.
// It also reports how each connection ended (see connLog) and answers
// mochi's listener nil, so mochi does not log it again.
type connectTimeout struct {
	listeners.Listener
	wait time.Duration
	log  *connLog
}

func (l connectTimeout) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(l.wait))
		l.log.ended(id, c.RemoteAddr(), establish(id, c))
		return nil
	})
}

func maxPacketSize(opts Options) uint32 {
	if opts.MaxPacketSize == 0 {
		return DefaultMaxPacketSize
	}
	return opts.MaxPacketSize
}

// serverTLS is cfg for a listener, with TLS 1.2 at least.
func serverTLS(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// wsListener serves MQTT over websockets (subprotocol "mqtt") on
// ws://addr/. Unlike mochi's listener it binds in Init, so an address
// with port 0 can be read back, and the bind error comes from New.
type wsListener struct {
	id, addr string
	ln       net.Listener
	srv      *http.Server
	log      *slog.Logger

	mu     sync.Mutex
	closed bool
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id, addr string) *wsListener { return &wsListener{id: id, addr: addr} }

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Protocol() string { return "ws" }

// Address is the bound address once Init has run.
func (l *wsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln = ln
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	up := &websocket.Upgrader{
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: 10 * time.Second,
		// Any origin: every MQTT connection logs in with a password of its
		// own, and a browser adds no ambient credential a foreign page
		// could borrow, so the origin check would only lock out dashboards
		// served from another port.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil) // answers the client itself on error
			if err != nil {
				l.log.Debug("mqtt websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
				return
			}
			if err := establish(l.id, &wsConn{Conn: c.NetConn(), ws: c}); err != nil {
				l.log.Debug("mqtt websocket client ended", "remote", r.RemoteAddr, "err", err)
			}
		}),
	}
	srv := l.srv
	l.mu.Unlock()
	if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("mqtt websocket listener stopped", "addr", l.Address(), "err", err)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	srv := l.srv
	l.mu.Unlock()
	if !first {
		return
	}
	// Close, not Shutdown: clients' connections are hijacked, so the
	// server has only its listener and idle handshakes to drop.
	if srv != nil {
		_ = srv.Close()
	} else if l.ln != nil {
		_ = l.ln.Close()
	}
	closeClients(l.id)
}

// wsConn is a websocket as the byte stream mochi reads packets from:
// reads run across binary messages, each write is one binary message.
// Deadlines and addresses are the underlying connection's.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader  // the message being read, nil between messages
	wm sync.Mutex // a websocket takes one writer at a time
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("mqtt websocket: text message, want binary")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wm.Lock()
	defer c.wm.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
