package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// connLog reports how a client connection ended, in place of mochi's
// listeners, which log every connection that ends with an error as a
// WARN with an empty message: each refused login (the auth hook already
// logs those, once per burst) and each client that went away without a
// DISCONNECT (a sensor losing its Wi-Fi, every time). Here:
//   - a refused login: nothing more;
//   - a client gone (EOF, reset, timeout): DEBUG;
//   - anything else (a protocol error, a packet over the size limit):
//     WARN, once per remote address and minute, with how many more there
//     were.
type connLog struct {
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex
	addrs map[string]*connWarn // by remote IP
}

type connWarn struct {
	last       time.Time
	suppressed int
}

// connLogEvery limits the WARN lines per remote address.
const connLogEvery = time.Minute

func newConnLog(log *slog.Logger) *connLog {
	return &connLog{log: log, now: time.Now, addrs: map[string]*connWarn{}}
}

// ended reports the error a connection from remote ended with.
func (l *connLog) ended(listener string, remote net.Addr, err error) {
	switch {
	case err == nil:
	case errors.Is(err, packets.ErrBadUsernameOrPassword), errors.Is(err, packets.ErrNotAuthorized):
	case clientGone(err):
		l.log.Debug("mqtt client gone without DISCONNECT", "listener", listener, "remote", remote.String(), "err", err)
	default:
		ip := remote.String()
		if host, _, splitErr := net.SplitHostPort(ip); splitErr == nil {
			ip = host
		}
		now := l.now()
		l.mu.Lock()
		w := l.addrs[ip]
		if w == nil {
			if len(l.addrs) >= 1024 {
				for k, v := range l.addrs {
					if now.Sub(v.last) >= connLogEvery {
						delete(l.addrs, k)
					}
				}
			}
			w = new(connWarn)
			l.addrs[ip] = w
		}
		if !w.last.IsZero() && now.Sub(w.last) < connLogEvery {
			w.suppressed++
			l.mu.Unlock()
			return
		}
		more := w.suppressed
		w.last, w.suppressed = now, 0
		l.mu.Unlock()
		l.log.Warn("mqtt connection closed on error", "listener", listener, "remote", remote.String(), "err", err, "more_since_last_line", more)
	}
}

// clientGone reports whether err means the client closed or lost its
// connection, or stayed silent past its deadline.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
