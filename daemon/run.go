package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// RunOptions configure Run.
type RunOptions struct {
	ConfigPath string
	LogOut     io.Writer     // stderr if nil
	Ready      func(*Daemon) // called once the API is listening (tests, benchmarks)
	Notify     func(string)  // sd_notify; nil sends to systemd when NOTIFY_SOCKET is set
}

// Run is hearthd: it loads the config, starts everything, and returns nil
// when ctx is cancelled (SIGINT, SIGTERM) and everything has stopped
// cleanly. SIGHUP reloads the config; a bad config is rejected with its
// errors and the running one stays.
func Run(ctx context.Context, opts RunOptions) error {
	if opts.LogOut == nil {
		opts.LogOut = os.Stderr
	}
	notify := opts.Notify
	if notify == nil {
		notify = func(state string) { _, _ = sd.SdNotify(false, state) }
	}
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	d, err := New(cfg, opts.LogOut)
	if err != nil {
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				notify("RELOADING=1\n" + sd.SdNotifyMonotonicUsec())
				d.reloadFrom(opts.ConfigPath)
				notify("READY=1")
			}
		}
	}()

	serveErr := d.Serve(ctx, func() {
		notify("READY=1\nSTATUS=serving")
		d.log.Info("hearthd ready", "version", Version, "config", opts.ConfigPath, "socket", cfg.API.Socket)
		if interval, err := sd.SdWatchdogEnabled(false); err == nil && interval > 0 {
			go d.watchdog(ctx, interval, notify)
		}
		if opts.Ready != nil {
			opts.Ready(d)
		}
	})
	notify("STOPPING=1")
	closeErr := d.Close()
	if serveErr != nil {
		return serveErr
	}
	if closeErr != nil {
		return fmt.Errorf("close store: %w", closeErr)
	}
	d.log.Info("stopped")
	return nil
}

func (d *Daemon) reloadFrom(path string) {
	next, err := LoadConfig(path)
	if err != nil {
		d.log.Error("config reload rejected; the running config stays", "err", err.Error())
		return
	}
	if err := d.Reload(next); err != nil {
		d.log.Error("config reload failed; the running config stays in part", "err", err.Error())
	}
}

// Serve runs the API and the recorder until ctx ends. ready is called once
// every listener is up.
func (d *Daemon) Serve(ctx context.Context, ready func()) error {
	cfg := d.Config()
	log := d.log.With("component", "api")

	var wg sync.WaitGroup
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() { defer wg.Done(); d.rec.run(recCtx) }()
	defer func() { stopRec(); wg.Wait() }()

	// The hardware's loops stop before the recorder, so that their last
	// events are recorded.
	var hwg sync.WaitGroup
	hwCtx, stopHW := context.WithCancel(context.WithoutCancel(ctx))
	for _, run := range append([]partLoop{d.be.Run}, d.loops...) {
		hwg.Add(1)
		go func() { defer hwg.Done(); run(hwCtx) }()
	}
	defer func() { stopHW(); hwg.Wait() }()

	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &server{d: d, log: log, streams: streams}

	unixL, err := listenUnix(cfg.API.Socket, fs.FileMode(cfg.API.SocketMode))
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	servers := []*http.Server{newHTTPServer(srv.handler(""), log, endStreams)}
	listeners := []net.Listener{unixL}
	if cfg.API.TCP != "" {
		token, err := loadToken(cfg.API.TokenFile, log)
		if err != nil {
			unixL.Close()
			return fmt.Errorf("api token: %w", err)
		}
		tcpL, err := net.Listen("tcp", cfg.API.TCP)
		if err != nil {
			unixL.Close()
			return fmt.Errorf("api tcp: %w", err)
		}
		servers = append(servers, newHTTPServer(srv.handler(token), log, endStreams))
		listeners = append(listeners, tcpL)
	}
	if d.broker != nil {
		if err := d.broker.Start(ctx); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("mqtt: %w", err)
		}
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		l := listeners[i]
		log.Info("listening", "addr", l.Addr().String())
		go func() {
			if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	d.addrs = listeners
	ready()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		log.Error("api server failed", "err", serveErr)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutCtx); err != nil {
			log.Warn("api shutdown", "err", err)
		}
	}
	return serveErr
}

func newHTTPServer(h http.Handler, log *slog.Logger, onShutdown func()) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.RegisterOnShutdown(onShutdown)
	return s
}

// Addr returns the address of the i-th listener (0: the unix socket, 1:
// TCP when configured), once Serve has called ready.
func (d *Daemon) Addr(i int) net.Addr {
	if i < len(d.addrs) {
		return d.addrs[i].Addr()
	}
	return nil
}

// listenUnix listens on path with the given mode. A stale socket left by a
// crash is replaced; a live one (another hearthd) is an error, and so is a
// path that exists and is not a socket.
func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another hearthd is already listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// loadToken reads the TCP API's bearer token, creating a random one
// (readable by the daemon's user alone) the first time.
func loadToken(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", fmt.Errorf("%s: the token is shorter than 16 characters", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	log.Info("created a bearer token for the TCP API", "file", path)
	return tok, nil
}

// watchdog pings systemd's watchdog while every registered loop is alive.
// When one is wedged it stops pinging, and systemd restarts us.
func (d *Daemon) watchdog(ctx context.Context, interval time.Duration, notify func(string)) {
	log := d.log.With("component", "watchdog")
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	var was []string
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			overdue := d.hub.Liveness().Overdue(now)
			if len(overdue) == 0 {
				notify("WATCHDOG=1")
			} else if strings.Join(overdue, ",") != strings.Join(was, ",") {
				log.Error("not pinging the watchdog: loops are overdue", "loops", overdue)
			}
			was = overdue
		}
	}
}
