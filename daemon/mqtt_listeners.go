package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearth-hub/hearth/broker"
)

// brokerListeners sets opts' TLS and websocket listeners and packet size
// from cfg. A TLS file that cannot be used fails with the setting's name
// and the file; a certificate outside its dates is only logged, as the
// clock may not be set yet at boot.
func (d *Daemon) brokerListeners(cfg MQTTConfig, opts *broker.Options) error {
	opts.WebsocketAddr = cfg.Websocket.Listen
	opts.MaxPacketSize = uint32(cfg.MaxPacketSize) // validated: 1024..268435455
	if cfg.TLS.Listen == "" {
		return nil
	}
	tc, err := broker.LoadTLS(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ClientCA)
	var fe *broker.TLSFileError
	switch {
	case errors.As(err, &fe):
		return fmt.Errorf("mqtt.tls.%s %s: %w", fe.Which, fe.File, fe.Err)
	case err != nil:
		return fmt.Errorf("mqtt.tls: %w", err)
	}
	if err := broker.CertDates(tc, time.Now()); err != nil {
		d.log.Warn("mqtt tls certificate not valid now: replace it or set the clock", "file", cfg.TLS.Cert, "err", err)
	}
	opts.TLSAddr, opts.TLS = cfg.TLS.Listen, tc
	return nil
}
