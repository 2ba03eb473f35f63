package mqttbench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// MQTT 3.1.1 control packet types (high nibble of the first byte), §2.2.1.
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktSubscribe  = 8
	pktSuback     = 9
	pktDisconnect = 14
)

// maxPacket bounds what the client reads; the loads never send more than
// a few hundred bytes.
const maxPacket = 1 << 20

// Conn is one MQTT 3.1.1 client connection: enough of the protocol for the
// loads (CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1, PUBACK, DISCONNECT).
// One goroutine reads; writes are serialised by a mutex and buffered until
// Flush.
type Conn struct {
	nc   net.Conn
	r    *bufio.Reader
	rbuf []byte

	mu sync.Mutex
	w  *bufio.Writer
}

// Account is an MQTT user name and password.
type Account struct {
	User, Password string
}

// Dial connects and logs in with a clean session.
func Dial(addr, clientID string, acc Account, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("mqtt dial %s: %w", addr, err)
	}
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	body := appendString(nil, "MQTT")
	flags := byte(0x02) // clean session
	if acc.User != "" {
		flags |= 0x80
	}
	if acc.Password != "" {
		flags |= 0x40
	}
	body = append(body, 4, flags, 0, 60) // level 4 (3.1.1), keep alive 60 s
	body = appendString(body, clientID)
	if acc.User != "" {
		body = appendString(body, acc.User)
	}
	if acc.Password != "" {
		body = appendString(body, acc.Password)
	}
	c.writePacket(pktConnect<<4, body)
	if err := c.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqtt connect %s as %q: %w", addr, acc.User, err)
	}
	typ, b, err := c.ReadPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqtt connect %s as %q: %w", addr, acc.User, err)
	}
	if typ>>4 != pktConnack || len(b) != 2 {
		nc.Close()
		return nil, fmt.Errorf("mqtt connect %s as %q: got packet type %d, want CONNACK", addr, acc.User, typ>>4)
	}
	if b[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("mqtt connect %s as %q: refused with return code %d", addr, acc.User, b[1])
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// Subscribe subscribes to one filter and waits for the SUBACK; it must be
// called before any other goroutine reads.
func (c *Conn) Subscribe(filter string, qos byte, timeout time.Duration) error {
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = appendString(body, filter)
	body = append(body, qos)
	c.writePacket(pktSubscribe<<4|0x02, body)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		typ, b, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", filter, err)
		}
		if typ>>4 != pktSuback {
			continue // a retained message may arrive first
		}
		if len(b) != 3 || b[2] == 0x80 {
			return fmt.Errorf("subscribe %s: refused by the broker", filter)
		}
		return nil
	}
}

// Publish queues a PUBLISH; id is ignored at QoS 0. Call Flush to send.
func (c *Conn) Publish(topic string, qos byte, id uint16, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	c.header(pktPublish<<4|qos<<1, n)
	c.w.WriteByte(byte(len(topic) >> 8))
	c.w.WriteByte(byte(len(topic)))
	c.w.WriteString(topic)
	if qos > 0 {
		c.w.WriteByte(byte(id >> 8))
		c.w.WriteByte(byte(id))
	}
	c.w.Write(payload)
}

// Puback queues the acknowledgement of a QoS 1 PUBLISH.
func (c *Conn) Puback(id uint16) {
	c.writePacket(pktPuback<<4, []byte{byte(id >> 8), byte(id)})
}

// Flush sends what is queued.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Flush()
}

// Buffered reports whether a read would be served without a system call.
func (c *Conn) Buffered() bool { return c.r.Buffered() > 0 }

// SetReadDeadline bounds the next reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Close sends DISCONNECT and closes the connection.
func (c *Conn) Close() error {
	c.writePacket(pktDisconnect<<4, nil)
	ferr := c.Flush()
	if err := c.nc.Close(); err != nil {
		return err
	}
	return ferr
}

// ReadPacket reads one packet: its first byte and its body, which is
// valid until the next ReadPacket.
func (c *Conn) ReadPacket() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readVarint(c.r)
	if err != nil {
		return 0, nil, fmt.Errorf("packet type %d: %w", typ>>4, err)
	}
	if n > maxPacket {
		return 0, nil, fmt.Errorf("packet type %d: %d bytes, over the %d this client reads", typ>>4, n, maxPacket)
	}
	if cap(c.rbuf) < n {
		c.rbuf = make([]byte, n)
	}
	b := c.rbuf[:n]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return 0, nil, fmt.Errorf("packet type %d: %w", typ>>4, err)
	}
	return typ, b, nil
}

// ParsePublish splits a PUBLISH body (first byte typ) into its topic,
// packet id (0 at QoS 0) and payload.
func ParsePublish(typ byte, b []byte) (topic []byte, id uint16, payload []byte, err error) {
	if len(b) < 2 {
		return nil, 0, nil, errors.New("publish: body shorter than its topic length")
	}
	tl := int(binary.BigEndian.Uint16(b))
	rest := b[2:]
	if len(rest) < tl {
		return nil, 0, nil, fmt.Errorf("publish: topic of %d bytes in a %d-byte body", tl, len(b))
	}
	topic, rest = rest[:tl], rest[tl:]
	if (typ>>1)&3 > 0 {
		if len(rest) < 2 {
			return nil, 0, nil, errors.New("publish: no packet id at QoS > 0")
		}
		id, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	return topic, id, rest, nil
}

func (c *Conn) writePacket(first byte, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.header(first, len(body))
	c.w.Write(body)
}

// header writes a fixed header; the caller holds mu. Write errors stay in
// the bufio.Writer and come back from Flush.
func (c *Conn) header(first byte, n int) {
	c.w.WriteByte(first)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		c.w.WriteByte(b)
		if n == 0 {
			return
		}
	}
}

// readVarint reads a remaining length (§2.2.3): at most four bytes.
func readVarint(r io.ByteReader) (int, error) {
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			return n, nil
		}
		mul *= 128
	}
	return 0, errors.New("remaining length longer than four bytes")
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
